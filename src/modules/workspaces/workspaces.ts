import type { Clock } from '../../clock.js';
import { AppError, notFound } from '../../errors.js';
import { newId } from '../../ids.js';
import type { WorkspaceRow, WorkspacesRepo } from '../../store/workspaces.js';
import type { Audit } from '../audit/audit.js';

export interface Workspace {
  id: string;
  name: string;
  createdAt: string;
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function createWorkspaces(deps: {
  repo: Pick<WorkspacesRepo, 'insert' | 'list' | 'find'>;
  clock: Clock;
  audit: Pick<Audit, 'record'>;
}) {
  const { repo, clock, audit } = deps;
  const toWorkspace = (r: WorkspaceRow): Workspace => ({ id: r.id, name: r.name, createdAt: r.createdAt });

  return {
    async create(name: string, actor: string): Promise<Workspace> {
      if (!NAME.test(name)) {
        throw new AppError('validation_failed', `Workspace name "${name}" is not allowed.`, {
          hint: 'Use 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit.',
        });
      }
      const now = clock.now();
      const row: WorkspaceRow = {
        id: newId('ws', now.getTime()),
        name,
        createdAt: now.toISOString(),
        defaultConnectionId: null,
      };
      if (!(await repo.insert(row))) throw new AppError('conflict', `A workspace named "${name}" already exists.`);
      await audit.record({ workspaceId: row.id, actor, action: 'workspace.created', details: { name } });
      return toWorkspace(row);
    },

    async list(): Promise<Workspace[]> {
      return (await repo.list()).map(toWorkspace);
    },

    /** By id or name. */
    async get(idOrName: string): Promise<Workspace> {
      const r = await repo.find(idOrName);
      if (!r) throw notFound(`Workspace ${idOrName}`);
      return toWorkspace(r);
    },
  };
}

export type Workspaces = ReturnType<typeof createWorkspaces>;
