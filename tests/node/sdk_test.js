// sdk_test.js — the official OpenAI SDK for Node.js against an
// OpenAI-compatible endpoint (elastic-sim here): models, chat and
// completions, streaming and not, structured output, embeddings, and the
// SDK's error classes.
//
//   SDK_DIR=build/node BASE_URL=http://127.0.0.1:PORT/v1 MODEL=sim node tests/node/sdk_test.js
//
// With API_KEY set (an endpoint that requires keys, such as the registry's
// proxy), the client uses it, and a wrong key must be an AuthenticationError.
'use strict';
const assert = require('node:assert/strict');
const { createRequire } = require('node:module');
const path = require('node:path');

const sdkDir = path.resolve(process.env.SDK_DIR || 'build/node');
const OpenAI = createRequire(path.join(sdkDir, 'package.json'))('openai').OpenAI;
const model = process.env.MODEL || 'sim';
const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY || 'sk-test', maxRetries: 0, timeout: 20000 });

async function main() {
  const models = await client.models.list();
  assert.ok(models.data.some((m) => m.id === model), 'model listed');
  console.log('ok: models.list');

  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say something.' },
  ];
  const chat = await client.chat.completions.create({ model, messages, max_tokens: 6, seed: 11 });
  assert.equal(chat.object, 'chat.completion');
  assert.equal(chat.choices[0].message.role, 'assistant');
  assert.equal(chat.choices[0].finish_reason, 'length');
  assert.equal(chat.usage.completion_tokens, 6);
  assert.ok(chat.choices[0].message.content.length > 0);
  console.log('ok: chat.completions.create:', JSON.stringify(chat.choices[0].message.content));

  const stream = await client.chat.completions.create({
    model, messages, max_completion_tokens: 6, seed: 11, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content || '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, chat.choices[0].message.content, 'streamed text equals the non-streamed one');
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 6);
  assert.ok(chunks >= 7);
  console.log(`ok: chat stream: ${chunks} chunks, usage`, JSON.stringify(usage));

  const cmpl = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 4, stop: ['\n'] });
  assert.equal(cmpl.object, 'text_completion');
  assert.equal(cmpl.usage.completion_tokens, 4);
  let ctext = '', cchunks = 0;
  for await (const chunk of await client.completions.create({ model, prompt: 'Once', max_tokens: 5, stream: true })) {
    cchunks++;
    ctext += chunk.choices[0]?.text || '';
  }
  assert.equal(cchunks, 5);
  assert.ok(ctext.length > 0);
  console.log('ok: completions, streaming and not');

  // Structured output: a json_schema response_format, read by the SDK's
  // own parse helper; streamed, the same JSON; a schema the engine cannot
  // compile is a BadRequestError naming response_format.
  const verdict = {
    type: 'json_schema',
    json_schema: {
      name: 'verdict', strict: true,
      schema: {
        type: 'object', additionalProperties: false, required: ['verdict', 'reason'],
        properties: { verdict: { type: 'string', enum: ['correct', 'incorrect'] }, reason: { type: 'string' } },
      },
    },
  };
  const parsed = await client.chat.completions.parse({ model, messages, response_format: verdict, seed: 3 });
  const pm = parsed.choices[0].message;
  assert.ok(pm.parsed && ['correct', 'incorrect'].includes(pm.parsed.verdict) && typeof pm.parsed.reason === 'string',
    JSON.stringify(pm));
  let json = '';
  for await (const chunk of await client.chat.completions.create(
    { model, messages, response_format: verdict, seed: 3, stream: true })) {
    json += chunk.choices[0]?.delta?.content || '';
  }
  assert.equal(json, pm.content, 'streamed JSON equals the non-streamed one');
  await assert.rejects(
    client.chat.completions.create({ model, messages, response_format: {
      type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a' } } } }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'response_format' && /pattern/.test(e.message),
  );
  console.log('ok: structured output:', pm.content);

  const emb = await client.embeddings.create({ model, input: ['hello', 'world'] });
  assert.equal(emb.data.length, 2);
  const v = emb.data[0].embedding;
  assert.equal(v.length, 384);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(norm - 1) < 1e-3, `unit vector (norm ${norm})`);
  const emb2 = await client.embeddings.create({ model, input: 'hello', encoding_format: 'float' });
  assert.deepEqual(emb2.data[0].embedding.slice(0, 8).map((x) => x.toFixed(5)), v.slice(0, 8).map((x) => x.toFixed(5)));
  console.log('ok: embeddings (base64 and float agree)');

  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && /does not exist/.test(e.message),
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages, n: 2 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'n',
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages, max_tokens: 'many' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'max_tokens',
  );
  console.log('ok: errors map to the SDK\'s NotFoundError and BadRequestError');

  if (process.env.API_KEY) {
    const wrong = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-wrong-key', maxRetries: 0 });
    await assert.rejects(wrong.models.list(),
      (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
    console.log('ok: a wrong API key is the SDK\'s AuthenticationError');
  }

  // A stream the client abandons half-way: breaking out of the loop makes
  // the SDK abort the request.
  const long = await client.chat.completions.create(
    { model, messages, max_tokens: 2000, ignore_eos: true, stream: true });
  let got = 0;
  for await (const chunk of long) { void chunk; if (++got === 3) break; }
  assert.equal(got, 3);
  console.log('ok: an aborted stream');
  console.log('all OpenAI SDK checks passed');
}

main().catch((e) => { console.error('FAIL:', e); process.exit(1); });
