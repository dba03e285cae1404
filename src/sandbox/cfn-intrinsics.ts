import { SandboxError } from './errors.js';
import type { ParameterSpec, Template } from './cfn-template.js';

/** Parameter validation, conditions and intrinsic functions, with CloudFormation's own error wording. */

export type ParamValue = string | string[];

/** Marker for `Ref: AWS::NoValue`: the property is removed as if never written. */
export const NO_VALUE = Symbol('AWS::NoValue');

const validation = (m: string) => new SandboxError('ValidationError', m);
const templateError = (m: string) => new SandboxError('ValidationError', `Template error: ${m}`);

export function resolveParameters(t: Template, given: Record<string, string>): Record<string, ParamValue> {
  const specs = t.Parameters ?? {};
  const unknown = Object.keys(given).filter((k) => !(k in specs));
  if (unknown.length) throw validation(`Parameters: [${unknown.join(', ')}] do not exist in the template`);
  const missing = Object.entries(specs)
    .filter(([k, s]) => given[k] === undefined && s.Default === undefined)
    .map(([k]) => k);
  if (missing.length) throw validation(`Parameters: [${missing.join(', ')}] must have values`);
  const out: Record<string, ParamValue> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = given[name] ?? stringify(spec.Default);
    out[name] = checkParameter(name, spec, raw);
  }
  return out;
}

function stringify(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(',');
  return v === undefined || v === null ? '' : String(v);
}

function checkParameter(name: string, spec: ParameterSpec, raw: string): ParamValue {
  const type = spec.Type ?? 'String';
  const fail = (m: string): never => {
    throw validation(
      spec.ConstraintDescription && !m.includes('must be a number')
        ? `Parameter '${name}' failed to satisfy constraint: ${spec.ConstraintDescription}`
        : m,
    );
  };
  const checkString = (v: string) => {
    if (spec.AllowedValues && !spec.AllowedValues.map(String).includes(v))
      fail(`Parameter '${name}' must be one of AllowedValues`);
    if (spec.AllowedPattern !== undefined && !new RegExp(`^(?:${spec.AllowedPattern})$`).test(v))
      fail(`Parameter '${name}' must match pattern ${spec.AllowedPattern}`);
    if (spec.MinLength !== undefined && v.length < Number(spec.MinLength))
      fail(`Parameter '${name}' must contain at least ${spec.MinLength} characters`);
    if (spec.MaxLength !== undefined && v.length > Number(spec.MaxLength))
      fail(`Parameter '${name}' must contain at most ${spec.MaxLength} characters`);
  };
  switch (type) {
    case 'String':
      checkString(raw);
      return raw;
    case 'Number': {
      if (raw.trim() === '' || !Number.isFinite(Number(raw))) fail(`Parameter '${name}' must be a number`);
      const n = Number(raw);
      if (spec.AllowedValues && !spec.AllowedValues.map(Number).includes(n))
        fail(`Parameter '${name}' must be one of AllowedValues`);
      if (spec.MinValue !== undefined && n < Number(spec.MinValue))
        fail(`Parameter '${name}' must be a number not less than ${spec.MinValue}`);
      if (spec.MaxValue !== undefined && n > Number(spec.MaxValue))
        fail(`Parameter '${name}' must be a number not greater than ${spec.MaxValue}`);
      return raw;
    }
    case 'CommaDelimitedList':
    case 'List<String>':
    case 'List<Number>': {
      const items = raw.split(',').map((s) => s.trim());
      for (const item of items) if (item !== '' || spec.AllowedValues) checkString(item);
      return items;
    }
    default:
      throw validation(
        `Parameter '${name}' has type ${type}, which the Sesame sandbox does not support (String, Number, CommaDelimitedList)`,
      );
  }
}

export interface EvalEnv {
  params: Record<string, ParamValue>;
  pseudo: Record<string, ParamValue>;
  conditions: (name: string) => boolean;
  mappings: Template['Mappings'];
  ref: (logicalId: string) => string | undefined;
  getAtt: (logicalId: string, attr: string) => string | undefined;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Evaluates intrinsic functions recursively; AWS::NoValue members are dropped from objects and arrays. */
export function evaluate(v: unknown, env: EvalEnv): unknown {
  if (Array.isArray(v)) return v.map((x) => evaluate(x, env)).filter((x) => x !== NO_VALUE);
  if (!isObj(v)) return v;
  const keys = Object.keys(v);
  if (keys.length === 1) {
    const k = keys[0]!;
    const arg = v[k];
    if (k === 'Ref') return ref(String(arg), env);
    if (k === 'Condition' && typeof arg === 'string') return env.conditions(arg);
    if (k.startsWith('Fn::')) return fn(k, arg, env);
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const r = evaluate(x, env);
    if (r !== NO_VALUE) out[k] = r;
  }
  return out;
}

function ref(name: string, env: EvalEnv): unknown {
  if (name === 'AWS::NoValue') return NO_VALUE;
  if (name in env.pseudo) return env.pseudo[name];
  if (name in env.params) return env.params[name];
  const r = env.ref(name);
  if (r === undefined)
    throw new SandboxError(
      'ValidationError',
      `Template format error: Unresolved resource dependencies [${name}] in the Resources block of the template`,
    );
  return r;
}

function asString(v: unknown, where: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw templateError(`${where} expects a string, got ${JSON.stringify(v)}`);
}

function fn(name: string, arg: unknown, env: EvalEnv): unknown {
  const list = (n: number): unknown[] => {
    if (!Array.isArray(arg) || arg.length !== n) throw templateError(`${name} requires a list of ${n} elements`);
    return arg;
  };
  switch (name) {
    case 'Fn::If': {
      const [cond, a, b] = list(3);
      return evaluate(env.conditions(asString(cond, name)) ? a : b, env);
    }
    case 'Fn::Equals': {
      const [a, b] = list(2).map((x) => evaluate(x, env));
      return JSON.stringify(a) === JSON.stringify(b) || String(a) === String(b);
    }
    case 'Fn::Not':
      return !evaluate(list(1)[0], env);
    case 'Fn::And':
      return (arg as unknown[]).every((x) => evaluate(x, env) === true);
    case 'Fn::Or':
      return (arg as unknown[]).some((x) => evaluate(x, env) === true);
    case 'Fn::Join': {
      const [sep, items] = list(2);
      const values = evaluate(items, env);
      if (!Array.isArray(values)) throw templateError('Fn::Join requires a list of values');
      return values.map((x) => asString(x, name)).join(asString(sep, name));
    }
    case 'Fn::Select': {
      const [idx, items] = list(2);
      const values = evaluate(items, env);
      const i = Number(evaluate(idx, env));
      if (!Array.isArray(values) || i < 0 || i >= values.length)
        throw templateError('Fn::Select cannot select nonexistent value at index ' + i);
      return values[i];
    }
    case 'Fn::Split': {
      const [sep, s] = list(2);
      return asString(evaluate(s, env), name).split(asString(sep, name));
    }
    case 'Fn::FindInMap': {
      const [m, k1, k2] = list(3).map((x) => asString(evaluate(x, env), name));
      const value = env.mappings?.[m!]?.[k1!]?.[k2!];
      if (value === undefined) throw templateError(`Unable to get mapping for ${m}::${k1}::${k2}`);
      return value;
    }
    case 'Fn::GetAtt': {
      const [id, attr] = Array.isArray(arg)
        ? arg.map((x) => asString(evaluate(x, env), name))
        : asString(arg, name).split(/\.(.*)/s);
      const v = env.getAtt(id ?? '', attr ?? '');
      if (v === undefined)
        throw templateError(`instance of Fn::GetAtt references undefined resource or attribute ${id}.${attr}`);
      return v;
    }
    case 'Fn::Sub':
      return sub(arg, env);
    case 'Fn::Base64':
      return Buffer.from(asString(evaluate(arg, env), name)).toString('base64');
    default:
      throw new SandboxError(
        'ValidationError',
        `Template format error: ${name} is not supported by the Sesame sandbox`,
      );
  }
}

function sub(arg: unknown, env: EvalEnv): string {
  const [template, vars] = Array.isArray(arg) ? [arg[0], arg[1]] : [arg, {}];
  const local = isObj(vars) ? (evaluate(vars, env) as Record<string, unknown>) : {};
  return asString(template, 'Fn::Sub').replace(/\$\{([^}]*)\}/g, (whole, expr: string) => {
    if (expr.startsWith('!')) return '${' + expr.slice(1) + '}';
    const name = expr.trim();
    if (name in local) return asString(local[name], 'Fn::Sub');
    if (name.includes('.') && !name.startsWith('AWS::')) {
      const [id, attr] = name.split(/\.(.*)/s);
      const v = env.getAtt(id!, attr!);
      if (v === undefined) throw templateError(`Fn::Sub references undefined attribute ${name}`);
      return v;
    }
    const v = ref(name, env);
    if (Array.isArray(v)) return v.join(',');
    return asString(v, 'Fn::Sub');
  });
}

/** Conditions are evaluated lazily and memoised; `Condition: Other` may nest. */
export function conditionEvaluator(t: Template, base: Omit<EvalEnv, 'conditions'>): (name: string) => boolean {
  const memo = new Map<string, boolean>();
  const evaluating = new Set<string>();
  const get = (name: string): boolean => {
    const cached = memo.get(name);
    if (cached !== undefined) return cached;
    const expr = t.Conditions?.[name];
    if (expr === undefined) throw templateError(`Unresolved condition dependency ${name}`);
    if (evaluating.has(name)) throw templateError(`Circular dependency between conditions: ${name}`);
    evaluating.add(name);
    const v = evaluate(expr, { ...base, conditions: get });
    evaluating.delete(name);
    if (typeof v !== 'boolean') throw templateError(`Condition ${name} must evaluate to true or false`);
    memo.set(name, v);
    return v;
  };
  return get;
}
