// List authorization: compiles "rows of type T that subject S may do action A on" into a SQL
// WHERE fragment with positional parameters, derived from the same ladder votes as authorize(),
// so `SELECT … WHERE <fragment>` returns exactly the rows authorize() would allow.
//
// Ids are compared as native uuids (`col = $1::uuid`, `col = ANY($2::uuid[])`), never by casting
// columns to text, so the planner can use the indexes on owner and org columns. Conditions that
// can never hold (no orgs, no owner column, …) fold to FALSE instead of emitting empty arrays.
// The fragment is built only from AND/OR, so a NULL column makes a term false, as it should.
import { isActionOf, type Action, type ActionOf, type ResourceType } from './actions-resources';
import { Ladder, memberOrgs } from './ladder';
import type { Role, Scope, Subject } from './model';

/** How a table stores the object fields. Omit a column the table does not have. */
export interface SqlFilterColumns {
  /** uuid primary key; needed only when the subject's scope allow-lists specific ids. */
  idCol?: string;
  /** Owning user (uuid). For the users table itself this is the id column. */
  ownerCol?: string;
  /** Owning org (uuid, NULL = site-wide). Absent for site-wide tables such as users. */
  orgCol?: string;
  /** jsonb object: user id → array of actions. */
  aclUserCol?: string;
  /** jsonb object: group id (or org id for Everyone) → array of actions. */
  aclGroupCol?: string;
}

export interface SqlFilter {
  sql: string;
  params: unknown[];
}

type Cond =
  | { kind: 'const'; value: boolean }
  | { kind: 'and' | 'or'; terms: Cond[] }
  | { kind: 'leaf'; atomic: boolean; render: (p: Params) => string };

const TRUE: Cond = { kind: 'const', value: true };
const FALSE: Cond = { kind: 'const', value: false };

function combine(kind: 'and' | 'or', terms: Cond[]): Cond {
  // For OR, TRUE absorbs and FALSE is neutral; for AND the reverse.
  const absorbing = kind === 'or';
  const kept: Cond[] = [];
  for (const t of terms) {
    if (t.kind === 'const') {
      if (t.value === absorbing) return t;
      continue;
    }
    kept.push(t);
  }
  if (kept.length === 0) return absorbing ? FALSE : TRUE;
  return kept.length === 1 ? kept[0] : { kind, terms: kept };
}
const or = (...terms: Cond[]) => combine('or', terms);
const and = (...terms: Cond[]) => combine('and', terms);
/** `atomic` leaves are a single comparison; the others get parentheses when combined. */
const leaf = (render: (p: Params) => string, atomic = false): Cond => ({ kind: 'leaf', atomic, render });

/** Positional parameters, added only while rendering so folded-away terms leave no unused `$n`. */
class Params {
  readonly values: unknown[] = [];
  private readonly seen = new Map<string, string>();

  constructor(private readonly offset: number) {}

  private add(value: unknown, cast: string): string {
    const key = `${cast}|${JSON.stringify(value)}`;
    let ref = this.seen.get(key);
    if (ref === undefined) {
      this.values.push(value);
      ref = `$${this.offset + this.values.length - 1}${cast}`;
      this.seen.set(key, ref);
    }
    return ref;
  }

  uuid(v: string): string {
    return this.add(v, '::uuid');
  }
  uuids(v: string[]): string {
    return this.add(v, '::uuid[]');
  }
  /** Untyped: Postgres infers text / text[] from the jsonb operator it feeds. */
  plain(v: string | string[]): string {
    return this.add(v, '');
  }
}

function render(c: Cond, p: Params): string {
  switch (c.kind) {
    case 'const':
      return c.value ? 'TRUE' : 'FALSE';
    case 'leaf':
      return c.atomic ? c.render(p) : `(${c.render(p)})`;
    default:
      return `(${c.terms.map((t) => render(t, p)).join(c.kind === 'and' ? ' AND ' : ' OR ')})`;
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Values that cannot be uuids can never equal a uuid column, so they are dropped, not cast.
const isUuid = (v: string) => UUID_RE.test(v);

const COLUMN_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/** The role ladder over rows: site, then user-level (own, org-less rows), org, org member. */
function rolesCond(
  roles: readonly Role[],
  subjectId: string,
  type: ResourceType,
  action: Action,
  c: SqlFilterColumns,
): Cond {
  const ladder = new Ladder(roles, type, action);
  const site = ladder.site();
  if (site !== 0) return site === 1 ? TRUE : FALSE;
  const { ownerCol: owner, orgCol: org } = c;
  const me = isUuid(subjectId) ? subjectId : undefined;
  const terms: Cond[] = [];
  if (ladder.user() === 1 && owner && me) {
    terms.push(
      org
        ? leaf((p) => `${owner} = ${p.uuid(me)} AND ${org} IS NULL`)
        : leaf((p) => `${owner} = ${p.uuid(me)}`, true),
    );
  }
  if (org) {
    const orgs = ladder.orgs().filter(isUuid);
    const whole = orgs.filter((o) => ladder.org(o) === 1);
    // An org-level negation vetoes the member level of that org.
    const ownOnly = orgs.filter((o) => ladder.org(o) === 0 && ladder.member(o) === 1);
    if (whole.length) terms.push(leaf((p) => `${org} = ANY(${p.uuids(whole)})`, true));
    if (ownOnly.length && owner && me) {
      terms.push(leaf((p) => `${org} = ANY(${p.uuids(ownOnly)}) AND ${owner} = ${p.uuid(me)}`));
    }
  }
  return or(...terms);
}

function aclCond(subject: Subject, action: Action, c: SqlFilterColumns): Cond {
  const { aclUserCol: users, aclGroupCol: groups, orgCol: org } = c;
  const acts = [action, '*'];
  const terms: Cond[] = [];
  if (users) terms.push(leaf((p) => `(${users} -> ${p.plain(subject.id)}) ?| ${p.plain(acts)}`));
  if (groups && org) {
    // Group and Everyone entries only count in orgs the subject belongs to.
    const orgs = memberOrgs(subject.roles).filter(isUuid);
    if (orgs.length && subject.groups.length) {
      terms.push(
        leaf(
          (p) =>
            `${org} = ANY(${p.uuids(orgs)}) AND EXISTS (SELECT 1 FROM jsonb_each(${groups}) AS acl(key, actions)` +
            ` WHERE acl.key = ANY(${p.plain([...subject.groups])}) AND acl.actions ?| ${p.plain(acts)})`,
        ),
      );
    }
    for (const o of orgs) {
      terms.push(leaf((p) => `${org} = ${p.uuid(o)} AND (${groups} -> ${p.plain(o)}) ?| ${p.plain(acts)}`));
    }
  }
  return or(...terms);
}

function allowListCond(scope: Scope, type: ResourceType, c: SqlFilterColumns): Cond {
  const entries = scope.allowList.filter((e) => e.type === '*' || e.type === type);
  if (entries.some((e) => e.id === '*')) return TRUE;
  const ids = entries.map((e) => e.id).filter(isUuid);
  const id = c.idCol;
  // Without an id column a row's id is unknown, so an id-restricted scope admits nothing.
  return ids.length && id ? leaf((p) => `${id} = ANY(${p.uuids(ids)})`, true) : FALSE;
}

/**
 * The WHERE fragment selecting the rows of `type` (stored per `columns`) on which `subject` may
 * perform `action`. Parameters are numbered from `paramOffset`, to append to a query's own.
 */
export function compileSqlFilter<T extends ResourceType>(
  subject: Subject,
  action: ActionOf<T>,
  type: T,
  columns: SqlFilterColumns,
  paramOffset = 1,
): SqlFilter {
  for (const col of Object.values(columns)) {
    if (col !== undefined && !COLUMN_RE.test(col)) throw new Error(`invalid column reference "${col}"`);
  }
  if (!isActionOf(type, action)) return { sql: 'FALSE', params: [] };
  const cond = and(
    or(rolesCond(subject.roles, subject.id, type, action, columns), aclCond(subject, action, columns)),
    rolesCond([subject.scope.role], subject.id, type, action, columns),
    allowListCond(subject.scope, type, columns),
  );
  const params = new Params(paramOffset);
  const sql = render(cond, params);
  // Wrapped once, so the fragment can be ANDed into any WHERE clause as it is.
  return { sql: cond.kind === 'leaf' && cond.atomic ? `(${sql})` : sql, params: params.values };
}
