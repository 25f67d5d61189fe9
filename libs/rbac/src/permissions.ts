// Small builders for permission lists, so role and scope definitions read as tables of
// "type: actions" instead of long arrays of objects, and stay type-checked per resource.
import { RESOURCE_TYPES, type ActionOf, type ResourceType, type Wildcard } from './actions-resources';
import type { Permission } from './model';

type Grants = { readonly [T in ResourceType]?: readonly ActionOf<T>[] | Wildcard };

function build(grants: Grants, negate: boolean): Permission[] {
  const out: Permission[] = [];
  for (const type of RESOURCE_TYPES) {
    const actions = grants[type];
    if (actions === undefined) continue;
    for (const action of actions === '*' ? ['*' as const] : actions) {
      out.push({ negate, resourceType: type, action });
    }
  }
  return out;
}

export function allow(grants: Grants): Permission[] {
  return build(grants, false);
}

export function deny(grants: Grants): Permission[] {
  return build(grants, true);
}

/** `*` on every resource type except the listed ones (which callers usually add back narrower). */
export function allExcept(...excluded: ResourceType[]): Permission[] {
  return RESOURCE_TYPES.filter((t) => !excluded.includes(t)).map((t) => ({
    negate: false,
    resourceType: t,
    action: '*',
  }));
}
