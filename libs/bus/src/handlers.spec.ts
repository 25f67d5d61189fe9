// Unit tests of the startup handler check: every declared subscription needs exactly one
// handler, and every handler must be declared.
import { checkHandlers, handlerKey, HandlerTarget } from './handlers';
import type { ConsumerDef } from './streams';
import { Subjects } from './subjects';

const consumer: ConsumerDef = {
  stream: 'TELEMETRY',
  durable: 'collector',
  filter: 'telemetry.>',
  maxDeliver: 5,
  ackWaitMs: 30_000,
  backoffMs: [1000],
};
const wake: HandlerTarget = { kind: 'subject', subject: Subjects.chatdWake, queue: 'workers' };
const config: HandlerTarget = { kind: 'subject', subject: Subjects.configChanged };
const telemetry: HandlerTarget = { kind: 'consumer', consumer };

describe('handlerKey', () => {
  it('identifies subjects by key and consumers by stream/durable', () => {
    expect(handlerKey(wake)).toBe('subject:chatd.wake');
    expect(handlerKey(telemetry)).toBe('consumer:TELEMETRY/collector');
  });
});

describe('checkHandlers', () => {
  it('reports nothing when every declared subscription has exactly one handler', () => {
    expect(
      checkHandlers(
        [wake, config, telemetry],
        [
          { target: wake, where: 'Wake.onWake' },
          { target: config, where: 'Cache.onChange' },
          { target: telemetry, where: 'Collector.onEvent' },
        ],
      ),
    ).toEqual([]);
  });

  it('reports a declared subject without a handler', () => {
    const problems = checkHandlers([wake, config], [{ target: wake, where: 'Wake.onWake' }]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/subject:config\.changed.*no handler/);
  });

  it('reports a declared consumer without a handler', () => {
    const problems = checkHandlers([telemetry], []);
    expect(problems).toEqual([expect.stringMatching(/consumer:TELEMETRY\/collector.*no handler/)]);
  });

  it('reports two handlers of one subscription, naming both', () => {
    const problems = checkHandlers(
      [wake],
      [
        { target: wake, where: 'A.first' },
        { target: wake, where: 'B.second' },
      ],
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('subject:chatd.wake has 2 handlers');
    expect(problems[0]).toContain('A.first');
    expect(problems[0]).toContain('B.second');
  });

  it('reports a handler of a subject the app does not declare, naming the handler', () => {
    const problems = checkHandlers(
      [wake],
      [
        { target: wake, where: 'Wake.onWake' },
        { target: config, where: 'Stray.onConfig' },
      ],
    );
    expect(problems).toEqual([
      expect.stringMatching(
        /Stray\.onConfig handles subject:config\.changed, which this app does not subscribe to/,
      ),
    ]);
  });

  it('reports every problem at once', () => {
    const problems = checkHandlers(
      [wake, telemetry],
      [
        { target: wake, where: 'A.one' },
        { target: wake, where: 'A.two' },
        { target: config, where: 'Stray.onConfig' },
      ],
    );
    expect(problems).toHaveLength(3);
  });

  // The lifecycle provisions consumers from the declared targets but subscribes and runs the
  // consume loop from the decorated ones; a divergence must not pass silently.
  it('reports a handler whose queue group differs from the declared subscription', () => {
    const declared: HandlerTarget = { kind: 'subject', subject: Subjects.chatdWake, queue: 'workers' };
    const decorated: HandlerTarget = { kind: 'subject', subject: Subjects.chatdWake };
    const problems = checkHandlers([declared], [{ target: decorated, where: 'Wake.onWake' }]);
    expect(problems).toEqual([expect.stringMatching(/Wake\.onWake.*queue/)]);
  });

  it('reports a consumer handler whose ConsumerDef differs from the declared (provisioned) one', () => {
    for (const differs of [{ filter: 'telemetry.other.>' }, { batch: { maxMessages: 10, maxWaitMs: 5 } }]) {
      const decorated: HandlerTarget = { kind: 'consumer', consumer: { ...consumer, ...differs } };
      const problems = checkHandlers([telemetry], [{ target: decorated, where: 'Collector.onEvent' }]);
      expect(problems).toEqual([expect.stringMatching(/Collector\.onEvent.*consumer:TELEMETRY\/collector/)]);
    }
  });

  it('lets the declaration tune a consumer (ack wait, redelivery, batch sizes)', () => {
    const declared: HandlerTarget = {
      kind: 'consumer',
      consumer: { ...consumer, maxDeliver: 10, ackWaitMs: 1234, backoffMs: [1], maxAckPending: 7 },
    };
    expect(checkHandlers([declared], [{ target: telemetry, where: 'Collector.onEvent' }])).toEqual([]);
  });
});
