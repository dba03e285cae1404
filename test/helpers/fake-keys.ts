/**
 * Key ids of the right shape that belong to nobody, built at run time so the repository holds
 * nothing a secret scanner could take for a real key: `<prefix>` + "FAKE" + tag, padded to 20.
 */
export function fakeKeyId(tag: string, prefix: 'AKIA' | 'ASIA' = 'AKIA'): string {
  return (prefix + `FAKE${tag.toUpperCase().replace(/[^A-Z0-9]/g, '')}`.padEnd(16, '0')).slice(0, 20);
}
