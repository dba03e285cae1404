import { AwsError } from './errors.js';

/** Fault injection: make the next N calls of one action fail with a chosen code (tests of retries and translation). */
export interface Fault {
  service: string;
  action: string;
  errorCode: string;
  remaining: number;
}

const STATUS: Record<string, number> = {
  TooManyRequestsException: 429,
  ThrottlingException: 400,
  Throttling: 400,
  ServiceUnavailable: 503,
  ServiceUnavailableException: 503,
  InternalFailure: 500,
  InternalError: 500,
  InternalServiceError: 500,
  InternalServiceErrorException: 500,
  AccessDenied: 403,
  AccessDeniedException: 403,
  ExpiredToken: 403,
  ExpiredTokenException: 403,
  RegionDisabledException: 403,
};

export function createFaults() {
  const faults: Fault[] = [];
  return {
    inject(service: string, action: string, errorCode: string, times = 1): void {
      faults.push({ service: service.toLowerCase(), action, errorCode, remaining: times });
    },
    /** Consumes one matching fault, if any. */
    take(service: string, action: string): AwsError | undefined {
      const f = faults.find(
        (x) =>
          x.remaining > 0 && x.service === service.toLowerCase() && x.action.toLowerCase() === action.toLowerCase(),
      );
      if (!f) return undefined;
      f.remaining -= 1;
      const status = STATUS[f.errorCode] ?? 400;
      return new AwsError(
        f.errorCode,
        `Injected fault (Sesame sandbox): ${f.errorCode}`,
        status,
        status >= 500 ? 'Receiver' : 'Sender',
      );
    },
    list: (): Fault[] => faults.filter((f) => f.remaining > 0).map((f) => ({ ...f })),
    clear: (): void => {
      faults.length = 0;
    },
  };
}

export type Faults = ReturnType<typeof createFaults>;
