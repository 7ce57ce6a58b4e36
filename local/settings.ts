/** Where a setting's value came from, as `npm start` prints it. */
export type SettingSource = 'env' | 'caller' | 'local default' | 'derived' | 'unset';

/** One printed row of the local stack's settings. */
export type SettingRow = {
  readonly name: string;
  /** `undefined` when unset. */
  readonly value: string | undefined;
  readonly source: SettingSource;
  /** A secret's value is printed only when it is the well-known local default. */
  readonly secret?: boolean;
  readonly note?: string;
};

/**
 * Reads one setting: the caller's explicit value, else the environment's (empty counts as unset),
 * else the local default.
 *
 * @example
 * ```ts
 * const row = readSetting('TABLE_NAME', { env: process.env, fallback: 'omnichannel' });
 * ```
 */
export function readSetting(
  name: string,
  input: { env: Readonly<Record<string, string | undefined>>; explicit?: string | undefined; fallback?: string; secret?: boolean; note?: string },
): SettingRow {
  const base = { name, secret: input.secret ?? false, ...(input.note ? { note: input.note } : {}) };
  if (input.explicit !== undefined) return { ...base, value: input.explicit, source: 'caller' };
  const fromEnv = input.env[name];
  if (fromEnv !== undefined && fromEnv !== '') return { ...base, value: fromEnv, source: 'env' };
  if (input.fallback !== undefined) return { ...base, value: input.fallback, source: 'local default' };
  return { ...base, value: undefined, source: 'unset' };
}

/**
 * The settings as an aligned text table. Secrets that did not come from a local default are shown as
 * `<set>`, so a real provider token in the shell never reaches a terminal or a CI log.
 *
 * @example
 * ```ts
 * console.log(formatSettingsTable(stack.settings));
 * ```
 */
export function formatSettingsTable(rows: readonly SettingRow[]): string {
  const shown = rows.map((r) => {
    const value = r.value === undefined ? '-' : r.secret && r.source !== 'local default' ? '<set>' : r.value;
    const source = `(${r.source})${r.note ? ` ${r.note}` : ''}`;
    return [r.name, value, source] as const;
  });
  const nameWidth = Math.max(...shown.map(([n]) => n.length), 'setting'.length);
  const valueWidth = Math.min(60, Math.max(...shown.map(([, v]) => v.length), 'value'.length));
  const line = (a: string, b: string, c: string): string => `  ${a.padEnd(nameWidth)}  ${b.padEnd(valueWidth)}  ${c}`.trimEnd();
  return [line('setting', 'value', 'source'), ...shown.map(([n, v, s]) => line(n, v, s))].join('\n');
}
