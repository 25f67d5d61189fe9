// The role ladder: each level (site, user, org, org member) votes -1, 0 or 1 on a (type, action)
// pair, pooling the permissions of all the subject's roles so that one role's negation vetoes
// what another role grants at that level. authorize() and compileSqlFilter() both build on these
// votes, which keeps the row check and the list filter in agreement by construction.
import type { Action, ResourceType } from './actions-resources';
import type { Permission, Role } from './model';

export type Vote = -1 | 0 | 1;

function matches(p: Permission, type: ResourceType, action: Action): boolean {
  return (p.resourceType === '*' || p.resourceType === type) && (p.action === '*' || p.action === action);
}

function vote(perms: Iterable<Permission>, type: ResourceType, action: Action): Vote {
  let allowed = false;
  for (const p of perms) {
    if (!matches(p, type, action)) continue;
    // One matching negation is enough: it outranks any number of grants.
    if (p.negate) return -1;
    allowed = true;
  }
  return allowed ? 1 : 0;
}

/** The votes of one subject's roles on one (type, action), per level. */
export class Ladder {
  constructor(
    private readonly roles: readonly Role[],
    private readonly type: ResourceType,
    private readonly action: Action,
  ) {}

  site(): Vote {
    return vote(
      this.roles.flatMap((r) => r.site),
      this.type,
      this.action,
    );
  }

  user(): Vote {
    return vote(
      this.roles.flatMap((r) => r.user),
      this.type,
      this.action,
    );
  }

  org(orgId: string): Vote {
    return vote(
      this.roles.flatMap((r) => r.byOrgId[orgId]?.org ?? []),
      this.type,
      this.action,
    );
  }

  member(orgId: string): Vote {
    return vote(
      this.roles.flatMap((r) => r.byOrgId[orgId]?.member ?? []),
      this.type,
      this.action,
    );
  }

  /** Orgs the roles mention: holding any permissions block for an org counts as membership. */
  orgs(): string[] {
    return memberOrgs(this.roles);
  }
}

export function memberOrgs(roles: readonly Role[]): string[] {
  return [...new Set(roles.flatMap((r) => Object.keys(r.byOrgId)))];
}

/**
 * The ladder's verdict given the four votes: a site grant wins outright; below it, a site
 * negation blocks everything, and an org negation blocks the member level of that org.
 */
export function ladderAllows(site: Vote, user: Vote, org: Vote, member: Vote): boolean {
  if (site === 1) return true;
  if (site === -1) return false;
  return user === 1 || org === 1 || (org !== -1 && member === 1);
}
