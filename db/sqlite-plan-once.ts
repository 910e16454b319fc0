// Statements planned once, when prepared, instead of at every run.

/**
 * The statement with each bound parameter `?` written `+?` (unary plus: the same value, no affinity, as `?`).
 *
 * SQLite plans a statement again, parsing it anew, at the first step after a parameter is bound whenever its plan
 * might depend on that parameter's value: a parameter compared with a column of a join, a join's `LIMIT`, a
 * column with `sqlite_stat4` samples. better-sqlite3 binds every parameter at every run, so a prepared join
 * was parsed and planned at each execution: 6–8 µs instead of ~1 µs for a two-table lookup by key, two thirds of
 * the SQLite time of `auth.me` under load (perf: `sqlite3_step` → `sqlite3Reprepare`). The planner looks only at
 * a parameter that stands alone; one inside an expression is a value it cannot know, so the plan is made once,
 * from the statistics, like a generic plan on Postgres: what SQLite's query planner stability guarantee
 * (`SQLITE_DBCONFIG_ENABLE_QPSG`, which better-sqlite3 does not expose) gives. New statistics still reach a cached
 * statement: ANALYZE (and so `PRAGMA optimize`) expires every prepared statement, which is planned again at its
 * next run. Quoted text, identifiers and comments are left as they are.
 */
export function planOnce(text: string): string {
  let out = '';
  let from = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      i = text.indexOf(close, i + 1);
      if (i === -1) break;
      // A doubled quote is one quote inside the quoted text, and the scan goes on past it.
      while (close !== ']' && text[i + 1] === close) {
        i = text.indexOf(close, i + 2);
        if (i === -1) break;
      }
      if (i === -1) break;
      i++;
    } else if (c === '-' && text[i + 1] === '-') {
      i = text.indexOf('\n', i + 2);
      if (i === -1) break;
    } else if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2);
      if (i === -1) break;
      i += 2;
    } else if (c === '?') {
      out += `${text.slice(from, i)}+`;
      from = i;
      i++;
    } else {
      i++;
    }
  }
  return out + text.slice(from);
}
