// The official `openai` npm package against a live loraplex-server: what an
// existing OpenAI client sees when only the base URL and the key change.
// Run by run_test.sh (ctest http.openai_sdk_conformance), which starts the
// server and passes, in the environment:
//   LORAPLEX_HTTP_BASE   http://127.0.0.1:PORT/v1
//   LORAPLEX_API_KEY     a key of tenant "acme" in the server's --api-keys
//   GRPC_GREEDY          gRPC Generate's whole response (`loraplex generate
//                        --no-stream --json`) for PROMPT with ADAPTER,
//                        greedy, MAX_TOKENS tokens
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const PROMPT = 'In the beginning';
const ADAPTER = 'demo/scripture';
const MAX_TOKENS = 12;

const client = new OpenAI({
  baseURL: process.env.LORAPLEX_HTTP_BASE,
  apiKey: process.env.LORAPLEX_API_KEY,
  maxRetries: 0,  // An error must reach the test, not be retried away.
  timeout: 60_000,
});
const grpc = JSON.parse(process.env.GRPC_GREEDY);

test('models.list: the base model and the adapters the caller may use', async () => {
  const ids = [];
  for await (const model of client.models.list()) {
    assert.equal(model.object, 'model');
    assert.equal(typeof model.created, 'number');
    ids.push(model.id);
    if (model.id === ADAPTER) assert.equal(model.owned_by, 'demo');
    if (model.id === 'demo') assert.equal(model.owned_by, 'loraplex');
  }
  assert.deepEqual(ids, ['demo', 'demo/code', 'demo/fortunes', 'demo/scripture']);
  const one = await client.models.retrieve(ADAPTER);
  assert.equal(one.id, ADAPTER);
});

test('completions.create: the same greedy text and usage as gRPC Generate', async () => {
  const completion = await client.completions.create({
    model: ADAPTER, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0,
  });
  assert.match(completion.id, /^cmpl-/);
  assert.equal(completion.object, 'text_completion');
  assert.equal(completion.model, ADAPTER);
  assert.equal(completion.choices.length, 1);
  assert.equal(completion.choices[0].text, grpc.text);
  assert.ok(grpc.text.length > 0);
  assert.equal(completion.choices[0].finish_reason, 'length');
  assert.equal(completion.usage.completion_tokens, MAX_TOKENS);
  assert.equal(completion.usage.prompt_tokens, grpc.usage.prompt_tokens);
  assert.equal(completion.usage.total_tokens,
               completion.usage.prompt_tokens + MAX_TOKENS);
});

test('completions.create with stream: chunks add up to the same text, then usage', async () => {
  const stream = await client.completions.create({
    model: ADAPTER, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0,
    stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.text;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.ok(chunks > 2, `only ${chunks} chunks`);
  assert.equal(text, grpc.text);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, MAX_TOKENS);
  assert.equal(usage.prompt_tokens, grpc.usage.prompt_tokens);
});

test('chat.completions.create: the chat template renders, the answer has OpenAI\'s shape', async () => {
  const chat = await client.chat.completions.create({
    model: 'demo/fortunes',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Tell me a fortune' },
    ],
    max_completion_tokens: 8,
    temperature: 0,
  });
  assert.match(chat.id, /^chatcmpl-/);
  assert.equal(chat.object, 'chat.completion');
  const choice = chat.choices[0];
  assert.equal(choice.message.role, 'assistant');
  assert.equal(typeof choice.message.content, 'string');
  assert.ok(['stop', 'length'].includes(choice.finish_reason));
  assert.ok(chat.usage.completion_tokens >= 1 && chat.usage.completion_tokens <= 8);
  assert.ok(chat.usage.prompt_tokens > 8);  // The rendered conversation.

  // Streamed, the same greedy answer.
  const stream = await client.chat.completions.create({
    model: 'demo/fortunes',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Tell me a fortune' },
    ],
    max_completion_tokens: 8,
    temperature: 0,
    stream: true,
  });
  let content = '';
  let role = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    const delta = chunk.choices[0].delta;
    if (delta.role) role = delta.role;
    if (delta.content) content += delta.content;
  }
  assert.equal(role, 'assistant');
  assert.equal(content, choice.message.content);
});

test('errors: the SDK\'s error classes, status codes and codes', async () => {
  await assert.rejects(
      client.completions.create({ model: 'nobody/nothing', prompt: PROMPT }),
      (error) => {
        assert.ok(error instanceof OpenAI.NotFoundError, String(error));
        assert.equal(error.status, 404);
        assert.equal(error.code, 'model_not_found');
        assert.equal(error.param, 'model');
        return true;
      });
  await assert.rejects(
      client.completions.create({ model: 'demo', prompt: PROMPT, n: 2 }),
      (error) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.equal(error.status, 400);
        assert.equal(error.code, 'unsupported_parameter');
        assert.equal(error.param, 'n');
        return true;
      });
  const stranger = new OpenAI({
    baseURL: process.env.LORAPLEX_HTTP_BASE, apiKey: 'not-a-key', maxRetries: 0,
  });
  await assert.rejects(stranger.models.list(), (error) => {
    assert.ok(error instanceof OpenAI.AuthenticationError, String(error));
    assert.equal(error.status, 401);
    assert.equal(error.code, 'invalid_api_key');
    return true;
  });
});
