import type { Clock } from '../../clock.js';
import { AppError, notFound } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Db } from '../../store/db.js';
import type { Audit } from '../audit/audit.js';

export interface Workspace {
  id: string;
  name: string;
  createdAt: string;
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function createWorkspaces(deps: { db: Db; clock: Clock; audit: Pick<Audit, 'record'> }) {
  const { db, clock, audit } = deps;
  const toWorkspace = (r: { id: string; name: string; created_at: string }): Workspace => ({
    id: r.id,
    name: r.name,
    createdAt: r.created_at,
  });

  return {
    async create(name: string, actor: string): Promise<Workspace> {
      if (!NAME.test(name)) {
        throw new AppError('validation_failed', `Workspace name "${name}" is not allowed.`, {
          hint: 'Use 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit.',
        });
      }
      const existing = await db.selectFrom('workspaces').select('id').where('name', '=', name).executeTakeFirst();
      if (existing) throw new AppError('conflict', `A workspace named "${name}" already exists.`);
      const now = clock.now();
      const row = { id: newId('ws', now.getTime()), name, created_at: now.toISOString(), default_connection_id: null };
      await db.insertInto('workspaces').values(row).execute();
      await audit.record({ workspaceId: row.id, actor, action: 'workspace.created', details: { name } });
      return toWorkspace(row);
    },

    async list(): Promise<Workspace[]> {
      return (await db.selectFrom('workspaces').selectAll().orderBy('id').execute()).map(toWorkspace);
    },

    /** By id or name. */
    async get(idOrName: string): Promise<Workspace> {
      const r = await db
        .selectFrom('workspaces')
        .selectAll()
        .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
        .executeTakeFirst();
      if (!r) throw notFound(`Workspace ${idOrName}`);
      return toWorkspace(r);
    },
  };
}

export type Workspaces = ReturnType<typeof createWorkspaces>;
