import { CHAT_ENTITIES } from './chat.entities';
import { IDENTITY_ENTITIES } from './identity.entities';

/** Every entity, for DataSources that serve the whole schema. */
export const ALL_ENTITIES = [...IDENTITY_ENTITIES, ...CHAT_ENTITIES];
