/**
 * An error the sandbox returns to an AWS SDK. `code` is what the SDK turns into `error.name`,
 * so it must be the exact code the real service sends in the same situation.
 */
export class AwsError extends Error {
  readonly code: string;
  readonly status: number;
  readonly fault: 'Sender' | 'Receiver';

  constructor(code: string, message: string, status = 400, fault: 'Sender' | 'Receiver' = 'Sender') {
    super(message);
    this.name = 'AwsError';
    this.code = code;
    this.status = status;
    this.fault = fault;
  }
}

export const isAwsError = (e: unknown): e is AwsError => e instanceof AwsError;

/** Errors of the admin API and of in-process admin calls (deploy failures etc.). */
export class SandboxError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = code;
    this.code = code;
    this.status = status;
  }
}

export const isSandboxError = (e: unknown): e is SandboxError => e instanceof SandboxError;
