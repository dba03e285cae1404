/**
 * A small IAM policy evaluator: enough of the real semantics (explicit Deny > Allow > implicit
 * deny, wildcards, the common condition operators and set qualifiers) that a template's
 * permissions behave in the sandbox as they will in AWS.
 */

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: '*' | Record<string, string | string[]>;
  NotPrincipal?: Record<string, string | string[]>;
  Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDocument {
  Version?: string;
  Id?: string;
  Statement: Statement | Statement[];
}

/** Condition keys are case-insensitive in IAM: contexts are keyed by lower-cased names. */
export type RequestContext = Record<string, string | string[]>;

export interface CallerPrincipal {
  arn: string; // user ARN or assumed-role ARN
  account: string;
  roleArn?: string; // for role sessions
}

export interface EvalRequest {
  action: string;
  resource: string;
  context: RequestContext;
  principal?: CallerPrincipal; // only consulted for resource-based (trust) policies
}

export type Decision = 'allowed' | 'explicitDeny' | 'implicitDeny';

export interface EvalResult {
  decision: Decision;
  matched: { sid?: string; policy: number; effect: 'Allow' | 'Deny' }[];
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export const statementsOf = (doc: PolicyDocument): Statement[] => list(doc.Statement);

/** Glob with `*` and `?` as IAM uses them in actions, resources and StringLike. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  let re = '^';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(re + '$', ignoreCase ? 'is' : 's').test(value);
}

function actionMatches(st: Statement, action: string): boolean {
  if (st.Action !== undefined) return list(st.Action).some((p) => wildcardMatch(p, action, true));
  if (st.NotAction !== undefined) return !list(st.NotAction).some((p) => wildcardMatch(p, action, true));
  return false;
}

function resourceMatches(st: Statement, resource: string): boolean {
  if (st.Resource !== undefined) return list(st.Resource).some((p) => wildcardMatch(p, resource));
  if (st.NotResource !== undefined) return !list(st.NotResource).some((p) => wildcardMatch(p, resource));
  // Trust policies carry no Resource: the role itself is the resource.
  return true;
}

/** Whether one `Principal: { AWS: ... }` entry names the caller. */
export function principalEntryMatches(entry: string, p: CallerPrincipal): boolean {
  if (entry === '*') return true;
  if (/^\d{12}$/.test(entry)) return p.account === entry;
  const root = /^arn:aws:iam::(\d{12}):root$/.exec(entry);
  if (root) return p.account === root[1];
  return entry === p.arn || (p.roleArn !== undefined && entry === p.roleArn);
}

function principalMatches(st: Statement, p: CallerPrincipal | undefined): boolean {
  if (st.Principal === undefined) return st.NotPrincipal === undefined ? true : false;
  if (!p) return false;
  if (st.Principal === '*') return true;
  return list(st.Principal['AWS']).some((e) => principalEntryMatches(e, p));
}

// ---------- conditions ----------

type Comparator = (ctx: string, pol: string) => boolean;

const toDate = (s: string): number => (/^\d+$/.test(s) ? Number(s) * 1000 : Date.parse(s));
const toNum = (s: string): number => Number(s);
const arnLike: Comparator = (c, p) => {
  // ArnLike compares the six colon-separated parts separately, each with wildcards.
  const cp = c.split(':');
  const pp = p.split(':');
  if (pp.length < 6 || cp.length < 6) return wildcardMatch(p, c);
  return (
    pp.slice(0, 5).every((seg, i) => wildcardMatch(seg, cp[i] ?? '')) &&
    wildcardMatch(pp.slice(5).join(':'), cp.slice(5).join(':'))
  );
};

const OPERATORS: Record<string, { cmp: Comparator; negated: boolean }> = {
  stringequals: { cmp: (c, p) => c === p, negated: false },
  stringnotequals: { cmp: (c, p) => c === p, negated: true },
  stringequalsignorecase: { cmp: (c, p) => c.toLowerCase() === p.toLowerCase(), negated: false },
  stringnotequalsignorecase: { cmp: (c, p) => c.toLowerCase() === p.toLowerCase(), negated: true },
  stringlike: { cmp: (c, p) => wildcardMatch(p, c), negated: false },
  stringnotlike: { cmp: (c, p) => wildcardMatch(p, c), negated: true },
  numericequals: { cmp: (c, p) => toNum(c) === toNum(p), negated: false },
  numericnotequals: { cmp: (c, p) => toNum(c) === toNum(p), negated: true },
  numericlessthan: { cmp: (c, p) => toNum(c) < toNum(p), negated: false },
  numericlessthanequals: { cmp: (c, p) => toNum(c) <= toNum(p), negated: false },
  numericgreaterthan: { cmp: (c, p) => toNum(c) > toNum(p), negated: false },
  numericgreaterthanequals: { cmp: (c, p) => toNum(c) >= toNum(p), negated: false },
  dateequals: { cmp: (c, p) => toDate(c) === toDate(p), negated: false },
  datenotequals: { cmp: (c, p) => toDate(c) === toDate(p), negated: true },
  datelessthan: { cmp: (c, p) => toDate(c) < toDate(p), negated: false },
  datelessthanequals: { cmp: (c, p) => toDate(c) <= toDate(p), negated: false },
  dategreaterthan: { cmp: (c, p) => toDate(c) > toDate(p), negated: false },
  dategreaterthanequals: { cmp: (c, p) => toDate(c) >= toDate(p), negated: false },
  bool: { cmp: (c, p) => c.toLowerCase() === p.toLowerCase(), negated: false },
  arnequals: { cmp: (c, p) => c === p, negated: false },
  arnnotequals: { cmp: (c, p) => c === p, negated: true },
  arnlike: { cmp: arnLike, negated: false },
  arnnotlike: { cmp: arnLike, negated: true },
};

export class UnsupportedConditionError extends Error {}

/** Evaluates one operator block, e.g. `StringEquals: { "sts:ExternalId": "x" }`. */
function evaluateOperator(rawOp: string, keys: Record<string, unknown>, ctx: RequestContext): boolean {
  let op = rawOp;
  let qualifier: 'all' | 'any' | undefined;
  if (/^ForAllValues:/i.test(op)) {
    qualifier = 'all';
    op = op.slice('ForAllValues:'.length);
  } else if (/^ForAnyValue:/i.test(op)) {
    qualifier = 'any';
    op = op.slice('ForAnyValue:'.length);
  }
  let ifExists = false;
  if (/IfExists$/i.test(op)) {
    ifExists = true;
    op = op.slice(0, -'IfExists'.length);
  }
  const opKey = op.toLowerCase();
  for (const [key, rawValues] of Object.entries(keys)) {
    const policyValues = list(rawValues as unknown).map((v) => String(v));
    const present = ctx[key.toLowerCase()];
    const ctxValues = present === undefined ? undefined : list(present);
    if (opKey === 'null') {
      // Null: "true" means the key must be absent, "false" that it must be present.
      const absent = ctxValues === undefined || ctxValues.length === 0;
      if (!policyValues.some((p) => (p.toLowerCase() === 'true') === absent)) return false;
      continue;
    }
    const spec = OPERATORS[opKey];
    if (!spec) throw new UnsupportedConditionError(`Condition operator ${rawOp} is not supported by the sandbox`);
    if (ctxValues === undefined || ctxValues.length === 0) {
      // Missing keys: documented IAM behaviour per operator family.
      if (ifExists || qualifier === 'all' || (spec.negated && qualifier === undefined)) continue;
      return false;
    }
    const single = (c: string): boolean => {
      const hit = policyValues.some((p) => spec.cmp(c, p));
      return spec.negated ? !hit : hit;
    };
    let ok: boolean;
    if (qualifier === 'all') ok = ctxValues.every(single);
    else if (qualifier === 'any') ok = ctxValues.some(single);
    else ok = spec.negated ? ctxValues.every(single) : ctxValues.some(single);
    if (!ok) return false;
  }
  return true;
}

export function conditionsMatch(cond: Statement['Condition'], ctx: RequestContext): boolean {
  if (!cond) return true;
  return Object.entries(cond).every(([op, keys]) => evaluateOperator(op, keys, ctx));
}

export function statementApplies(st: Statement, req: EvalRequest, checkPrincipal: boolean): boolean {
  if (!actionMatches(st, req.action)) return false;
  if (!resourceMatches(st, req.resource)) return false;
  if (checkPrincipal && !principalMatches(st, req.principal)) return false;
  return conditionsMatch(st.Condition, req.context);
}

/**
 * Evaluates policies as IAM does inside one policy type: any matching Deny wins, else any
 * matching Allow, else implicit deny. `checkPrincipal` is for resource-based policies (trust).
 */
export function evaluate(
  docs: PolicyDocument[],
  req: EvalRequest,
  opts: { checkPrincipal?: boolean } = {},
): EvalResult {
  const matched: EvalResult['matched'] = [];
  let allow = false;
  let deny = false;
  docs.forEach((doc, i) => {
    for (const st of statementsOf(doc)) {
      if (!statementApplies(st, req, opts.checkPrincipal ?? false)) continue;
      matched.push({ ...(st.Sid ? { sid: st.Sid } : {}), policy: i, effect: st.Effect });
      if (st.Effect === 'Deny') deny = true;
      else if (st.Effect === 'Allow') allow = true;
    }
  });
  return { decision: deny ? 'explicitDeny' : allow ? 'allowed' : 'implicitDeny', matched };
}

/** Combines decisions that must all allow (identity policy AND session policy, etc.). */
export function combineAll(...decisions: Decision[]): Decision {
  if (decisions.includes('explicitDeny')) return 'explicitDeny';
  if (decisions.every((d) => d === 'allowed')) return 'allowed';
  return 'implicitDeny';
}

export const ADMIN_POLICY: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
};

/** Structural validation with IAM's MalformedPolicyDocument wording. Returns an error message or undefined. */
export function policyProblem(doc: unknown, opts: { trust?: boolean } = {}): string | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'Syntax errors in policy.';
  const d = doc as Record<string, unknown>;
  if (d['Statement'] === undefined) return 'Missing required field Statement';
  const sts = list(d['Statement'] as unknown);
  for (const raw of sts) {
    if (typeof raw !== 'object' || raw === null) return 'Syntax errors in policy.';
    const st = raw as Record<string, unknown>;
    if (st['Effect'] !== 'Allow' && st['Effect'] !== 'Deny') return 'Invalid effect: ' + String(st['Effect']);
    if (st['Action'] === undefined && st['NotAction'] === undefined) return 'Policy statement must contain actions.';
    if (opts.trust && st['Principal'] === undefined && st['NotPrincipal'] === undefined)
      return 'AssumeRolepolicy contained an invalid principal element.';
    if (!opts.trust && (st['Principal'] !== undefined || st['NotPrincipal'] !== undefined))
      return 'Policy document should not specify a principal.';
    if (!opts.trust && st['Resource'] === undefined && st['NotResource'] === undefined)
      return 'Policy statement must contain resources.';
  }
  return undefined;
}

/** Builds the lower-cased context map from friendly names. */
export function context(entries: Record<string, string | string[] | undefined>): RequestContext {
  const out: RequestContext = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k.toLowerCase()] = v;
  return out;
}
