import { isDatabaseUnavailable } from './tx';

describe('isDatabaseUnavailable', () => {
  it.each([
    [{ code: '08006', message: 'connection failure' }, true],
    [
      { driverError: { code: '57P01' }, message: 'terminating connection due to administrator command' },
      true,
    ],
    [{ code: '53300', message: 'sorry, too many clients already' }, true],
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' }, true],
    [new Error('Connection terminated unexpectedly'), true],
    [new Error('timeout exceeded when trying to connect'), true],
    [{ code: '23505', message: 'duplicate key value violates unique constraint' }, false],
    [{ code: '22P02', message: 'invalid input syntax for type uuid' }, false],
    [{ code: '40001', message: 'could not serialize access' }, false],
    [new Error('something else'), false],
    [undefined, false],
  ])('%j → %s', (error, expected) => expect(isDatabaseUnavailable(error)).toBe(expected));
});
