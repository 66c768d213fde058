// Builds static/widget/chatplatform.js (the one shipped file) from static/widget/src/*.js with esbuild:
// one readable (not minified) ES2020 IIFE, deterministic (no timestamps, no absolute paths, no legal
// comments; module paths in comments are relative to the repo root).
//
//   node static/widget/build.mjs              write static/widget/chatplatform.js
//   node static/widget/build.mjs --out FILE   write FILE instead (scripts/widget_build_check.sh)
//
// One step after esbuild: the string table (STR in src/strings.js) is put back in the bundle as its
// source text, because esbuild reprints it one string per line in double quotes, and the table is
// read from the shipped file as written (tests/browser/test_widget_live.py's i18n(), translators).
// The build fails unless the spliced table evaluates to exactly the object esbuild printed.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { deepStrictEqual } from 'node:assert';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const SRC = join(HERE, 'src');
const DEFAULT_OUT = join(HERE, 'chatplatform.js');
const BANNER = '/*! chatplatform widget v1 (WebSocket protocol v1) - docs/widget.md\n' +
  ' * Built from static/widget/src/ by `npm run build:widget`: edit the sources, not this file. */';

/** The end (index after the closing brace) of the object literal that opens at text[start] === '{'. */
export const literalEnd = (text, start) => {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'" || c === '`') {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === '\\') i++;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
  }
  throw new Error('unbalanced object literal');
};

const only = (text, needle, what) => {
  const i = text.indexOf(needle);
  if (i < 0 || text.indexOf(needle, i + 1) >= 0) throw new Error(`expected exactly one "${needle}" in ${what}`);
  return i + needle.length - 1; // the '{'
};

const evalLiteral = (src) => new Function('return (' + src + ');')();

/** esbuild's bundle with the STR table's source text in place of its reprint. */
export const spliceStrings = (bundle, stringsSource) => {
  const s0 = only(stringsSource, 'export const STR = {', 'src/strings.js');
  const table = stringsSource.slice(s0, literalEnd(stringsSource, s0));
  const b0 = only(bundle, 'var STR = {', 'the bundle');
  const b1 = literalEnd(bundle, b0);
  deepStrictEqual(evalLiteral(table), evalLiteral(bundle.slice(b0, b1)));
  const indented = table.replace(/\n/g, '\n  '); // module code sits one level deep in the IIFE
  return bundle.slice(0, b0) + indented + bundle.slice(b1);
};

export const buildWidget = async () => {
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: [join(SRC, 'main.js')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    charset: 'utf8',
    legalComments: 'none',
    banner: { js: BANNER },
    minify: false,
    sourcemap: false,
    write: false,
    outfile: DEFAULT_OUT,
    logLevel: 'warning',
  });
  const bundle = result.outputFiles[0].text;
  return spliceStrings(bundle, readFileSync(join(SRC, 'strings.js'), 'utf8'));
};

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const out = i > 0 ? resolve(process.argv[i + 1]) : DEFAULT_OUT;
  const code = await buildWidget();
  writeFileSync(out, code);
  if (i < 0) console.log(`wrote ${out.slice(REPO.length + 1)} (${Buffer.byteLength(code)} bytes)`);
}
