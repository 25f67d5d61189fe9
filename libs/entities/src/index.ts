export * from './identity.entities';
export * from './all-entities';
