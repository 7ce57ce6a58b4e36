import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import ts from 'typescript';
import { esbuildOptionsFor } from '#infra/bundling.ts';
import { projectRoot } from '#infra/constructs/handler-function.ts';

/**
 * What each handler's deployed code can read, found statically: the handler is bundled exactly as it
 * is deployed (esbuild, tree-shaken), and every project source file that contributes code to the
 * bundle is scanned for string literals naming a setting (`getSecretSetting('TWILIO_AUTH_TOKEN')`,
 * `requireEnv('OUTBOUND_QUEUE_URL')`, `value('EMAIL_FROM')`…) or a template that builds one
 * (`` `BROADCAST_RATE_${channel}_PER_SECOND` ``). Comments and types do not count; dependencies in node_modules
 * are not scanned (the Twilio SDK, for one, names its own env defaults, which our code never sets).
 *
 * Over-approximates at file granularity (a file's other functions count once the file contributes
 * code), never under-approximates a literal name.
 *
 * @example
 * ```ts
 * const reads = await settingsReadBy(['functions/http/twilio-sms.ts'], ['TWILIO_AUTH_TOKEN', 'SMS_HELP_TEXT']);
 * reads.get('functions/http/twilio-sms.ts'); // Set { 'TWILIO_AUTH_TOKEN', 'SMS_HELP_TEXT' }
 * reads.deleting.has('functions/http/chat-inbound.ts'); // true: a merge's thread move deletes
 * ```
 */
export async function settingsReadBy(entries: readonly string[], candidates: readonly string[]): Promise<Map<string, Set<string>> & { deleting: Set<string> }> {
  /** Entries whose bundled code deletes table items. */
  const deleting = new Set<string>();
  const base = esbuildOptionsFor(entries[0]!, 'unused.mjs');
  const { outfile: _unused, ...options } = base;
  const result = await build({
    ...options,
    entryPoints: Object.fromEntries(entries.map((entry, i) => [`h${i}`, join(projectRoot, entry)])),
    outdir: join(projectRoot, '.build', 'handler-reads'),
    absWorkingDir: projectRoot,
    write: false,
    metafile: true,
    sourcemap: false,
    minify: false,
    logLevel: 'silent',
  });

  const literalsOf = new Map<string, FileLiterals>();
  const reads = new Map<string, Set<string>>();
  for (const [outputPath, output] of Object.entries(result.metafile.outputs)) {
    if (!output.entryPoint) continue;
    const entry = entries.find((e) => resolve(projectRoot, output.entryPoint!) === join(projectRoot, e));
    if (!entry) continue;
    const code = result.outputFiles?.find((f) => f.path === resolve(projectRoot, outputPath))?.text ?? '';
    if (DELETES.test(code)) deleting.add(entry);
    const found = new Set<string>();
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      if (bytesInOutput === 0 || input.includes('node_modules/') || !/\.[cm]?[jt]s$/.test(input)) continue;
      const file = resolve(projectRoot, input);
      let literals = literalsOf.get(file);
      if (!literals) {
        literals = scanLiterals(file);
        literalsOf.set(file, literals);
      }
      for (const name of candidates) {
        if (literals.strings.has(name) || literals.patterns.some((p) => p.test(name))) found.add(name);
      }
    }
    reads.set(entry, found);
  }
  return Object.assign(reads, { deleting });
}

/**
 * A table delete in bundled (tree-shaken, unminified) code: a DeleteCommand sent, or a `Delete` item of a
 * transaction (`{ Delete: { TableName…`, as the data module writes them; the SDK's own marshalling map
 * names `Delete: {` too, without a table). Only code reachable from the handler is in its bundle.
 */
const DELETES = /\bnew (?:DeleteCommand|DeleteItemCommand)\(|\bDelete:\s*\{\s*TableName\b/;

type FileLiterals = { strings: Set<string>; patterns: RegExp[] };

/** String literals of a source file, and templates that start like a setting name (`FOO_${x}_BAR`) as patterns. */
function scanLiterals(file: string): FileLiterals {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const strings = new Set<string>();
  const patterns: RegExp[] = [];
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const visit = (node: ts.Node): void => {
    // Types are erased: `type SecretName = 'TWILIO_AUTH_TOKEN' | …` reads nothing.
    if (ts.isTypeNode(node) || ts.isTypeAliasDeclaration(node) || ts.isInterfaceDeclaration(node) || ts.isImportDeclaration(node)) return;
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) strings.add(node.text);
    else if (ts.isTemplateExpression(node) && /^[A-Z][A-Z0-9_]*$/.test(node.head.text)) {
      const parts = [node.head.text, ...node.templateSpans.map((span) => span.literal.text)];
      patterns.push(new RegExp(`^${parts.map(escape).join('[A-Za-z0-9_]+')}$`));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { strings, patterns };
}
