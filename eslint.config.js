// Lint rules, including the import boundaries of the layout in ../shared/DESIGN.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Imports a part of the tree may not make, with the reason shown on a violation. */
const kysely = { group: ['kysely'], message: 'SQL lives in src/store/: use (or add) a repository method.' };
const awsSdk = {
  group: ['@aws-sdk/*', '@smithy/*'],
  message: 'Every AWS call and AWS type lives in src/aws/: use (or add) a gateway there.',
};
const sandbox = {
  group: ['**/sandbox/*', '**/sandbox/**'],
  message:
    'Only the CLI, src/main.ts and tests reach the local AWS sandbox; everything else talks to AWS through the SDK settings.',
};
const outerLayers = {
  group: ['**/http/*', '**/cli/*', '**/web/*', 'fastify', 'fastify-*', '@fastify/*', 'commander'],
  message:
    'Domain logic (src/modules/) knows nothing of HTTP, the CLI or the console: return values and throw AppError.',
};

/** The console is a client of the API: it reads and changes through /v1 only (src/web/api.ts). */
const consoleClient = {
  group: [
    '**/store/*',
    '**/queue/*',
    '**/sending/*',
    '**/container.js',
    '**/modules/*/*',
    '!**/modules/*/schemas.js',
    '!**/modules/operators/permissions.js',
  ],
  message:
    'The console calls the HTTP API (consoleApi in src/web/api.ts), never the store or a service: only schemas (types) and the permission table may be imported.',
};

/** The clock is the one source of time: nothing else reads it or sets a timer. */
const time = [
  {
    selector: "MemberExpression[object.name='Date'][property.name='now']",
    message: 'Read the time from the injected clock (src/clock.ts).',
  },
  {
    selector: "NewExpression[callee.name='Date'][arguments.length=0]",
    message: 'Read the time from the injected clock (src/clock.ts).',
  },
  {
    selector: 'CallExpression[callee.name=/^(setTimeout|setInterval|setImmediate)$/]',
    message: 'Set timers through the injected clock (clock.setTimer / clock.sleep) or a runner loop.',
  },
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'off',
      // Header and log sanitising strips control characters on purpose.
      'no-control-regex': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  // The layout's arrows. Each block lists every restriction that applies to its files, because a
  // later block's no-restricted-imports replaces an earlier one for the same file.
  {
    files: ['src/**/*.ts'],
    ignores: [
      'src/store/**',
      'src/aws/**',
      'src/sandbox/**',
      'src/cli/**',
      'src/main.ts',
      'src/modules/**',
      'src/web/**',
    ],
    rules: { 'no-restricted-imports': ['error', { patterns: [kysely, awsSdk, sandbox] }] },
  },
  {
    files: ['src/web/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [kysely, awsSdk, sandbox, consoleClient] }] },
  },
  {
    files: ['src/modules/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [kysely, awsSdk, sandbox, outerLayers] }] },
  },
  {
    files: ['src/store/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [awsSdk, sandbox] }] },
  },
  {
    files: ['src/aws/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [kysely, sandbox] }] },
  },
  {
    files: ['src/cli/**/*.ts', 'src/main.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [kysely, awsSdk] }] },
  },
  {
    files: ['src/sandbox/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [kysely] }] },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/clock.ts', 'src/sandbox/**'],
    rules: { 'no-restricted-syntax': ['error', ...time] },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', 'bin/*'],
    ...tseslint.configs.disableTypeChecked,
  },
);
