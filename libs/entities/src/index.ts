export * from './identity.entities';
export * from './all-entities';
export * from './queries/users.queries';
