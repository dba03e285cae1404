/**
 * Names a suite that is skipped when `skipBecause` says what this machine lacks
 * (`describe.skipIf(why)(skippable(name, why), …)`). Skipped, it says why in its name and in the
 * run's output, so a skipped suite is never mistaken for a passing one.
 */
export function skippable(name: string, skipBecause: string | null): string {
  if (!skipBecause) return name;
  const label = `${name}: SKIPPED because ${skipBecause}`;
  console.info(label);
  return label;
}

export const withoutPostgres = process.env.TEST_DATABASE_URL ? null : 'TEST_DATABASE_URL is not set';
