import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from '../helpers/paths.js';

/**
 * Every link in README.md and docs/ resolves: a relative link names a file or folder in the
 * repository, and an anchor names a heading of the linked Markdown file (GitHub's slugs). Links
 * out of the repository must at least be well-formed URLs (the suite runs offline).
 */
const files = [join(repoRoot, 'README.md'), ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(repoRoot, 'docs', f))];

/** The text without code blocks and code spans, where brackets are not links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

function links(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

test('every link in README.md and docs/ resolves', (t) => {
  let checked = 0;
  const broken: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const link of links(text)) {
      checked++;
      const where = `${relative(repoRoot, file)}: ${link}`;
      if (/^[a-z]+:/i.test(link)) {
        if (!URL.canParse(link)) broken.push(`${where} (not a URL)`);
        continue;
      }
      const [path, anchor] = link.split('#', 2) as [string, string | undefined];
      const target = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!target.startsWith(repoRoot) || !existsSync(target)) { broken.push(`${where} (no such file)`); continue; }
      if (anchor !== undefined && !(target.endsWith('.md') && anchors(readFileSync(target, 'utf8')).has(anchor))) broken.push(`${where} (no such heading)`);
    }
  }
  t.true(checked > 20, `only ${checked} links found`);
  t.deepEqual(broken, []);
});

test('the anchor rules match GitHub for the headings these docs use', (t) => {
  t.deepEqual([...anchors("# The agent's certificate manager\n## `meshnode ca`\n## Limits\n## Limits\n")],
    ['the-agents-certificate-manager', 'meshnode-ca', 'limits', 'limits-1']);
});

test("README's first command runs as root on a fresh Debian machine: no sudo, and the files it names exist", (t) => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const first = /^```sh\n([^\n]+)/m.exec(readme)?.[1] ?? '';
  t.regex(first, /^bash scripts\/install-deps\.sh && npm ci && node dist\/agent\/main\.js demo\b/);
  t.notRegex(first, /\bsudo\b/);
  t.true(existsSync(join(repoRoot, 'scripts', 'install-deps.sh')));
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string>; engines: { node: string }; scripts: Record<string, string> };
  t.is(pkg.bin.meshnode, 'dist/agent/main.js', 'npm ci builds dist/agent/main.js (the prepare script)');
  t.truthy(pkg.scripts.prepare);
  t.true(readme.includes(`Node.js\n${pkg.engines.node.replace('>=', '')} or newer`) || readme.includes(`Node.js ${pkg.engines.node.replace('>=', '')} or newer`),
    `the README states the Node.js version package.json requires (${pkg.engines.node})`);
});
