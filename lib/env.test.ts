import { EnvError, loadEnv, modelEndpoint } from './env';

it('fills every variable with a working local default', () => {
  const env = loadEnv({});
  expect(env.PORT).toBe(3000);
  expect(env.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
  expect(env.DATABASE_URL).toBe('postgresql://postgres@127.0.0.1:5432/gatehouse');
});

it('names the variable that has a bad value', () => {
  expect(() => loadEnv({ PORT: 'eighty' })).toThrow(EnvError);
  expect(() => loadEnv({ PORT: 'eighty' })).toThrow(/PORT/);
  expect(() => loadEnv({ TEMPORAL_ADDRESS: 'no-port' })).toThrow(/TEMPORAL_ADDRESS: expected host:port/);
  expect(() => loadEnv({ REDIS_URL: 'not a url' })).toThrow(/REDIS_URL/);
});

it('talks to the offline model unless an Anthropic key is set', () => {
  expect(modelEndpoint(loadEnv({}))).toMatchObject({ offline: true, baseURL: 'http://127.0.0.1:4010' });
  expect(modelEndpoint(loadEnv({ ANTHROPIC_API_KEY: 'sk-test' }))).toMatchObject({ offline: false, baseURL: 'https://api.anthropic.com' });
});
