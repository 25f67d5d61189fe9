export * from './lock-ids';
export * from './data-source';
export * from './migrator';
export * from './tx';
export * from './database.module';
