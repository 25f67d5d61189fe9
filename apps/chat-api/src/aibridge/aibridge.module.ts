// /api/v2/aibridge: the read API over the AI Bridge tables the aibridge-recorder writes.
import { Module } from '@nestjs/common';
import { AibridgeController } from './aibridge.controller';
import { AibridgeService } from './aibridge.service';

@Module({
  controllers: [AibridgeController],
  providers: [AibridgeService],
})
export class AibridgeModule {}
