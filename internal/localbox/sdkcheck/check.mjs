// Drives localbox with Box's official Node SDK (box-node-sdk): CCG, folders,
// uploads, versions, downloads, downscoping, metadata, skills cards, search
// (a word only spoken, found through a transcript card), webhooks
// (deliveries checked with the SDK's own validateMessage), revoke.
import http from 'node:http';
import { Readable } from 'node:stream';
import assert from 'node:assert/strict';
import { BoxClient, BoxCcgAuth, CcgConfig, BoxDeveloperTokenAuth } from 'box-node-sdk';
import { WebhooksManager } from 'box-node-sdk/managers';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const base = env('LOCALBOX_URL');
const urls = { baseUrl: base, uploadUrl: base + '/api', oauth2Url: base + '/oauth2' };
const auth = new BoxCcgAuth({ config: new CcgConfig({ clientId: env('LOCALBOX_CLIENT_ID'), clientSecret: env('LOCALBOX_CLIENT_SECRET'), enterpriseId: env('LOCALBOX_ENTERPRISE_ID') }) });
const client = new BoxClient({ auth }).withCustomBaseUrls(urls);

let passed = 0, failed = 0;
async function step(name, fn) {
  try { await fn(); passed++; console.log(`ok   ${name}`); }
  catch (e) { failed++; console.log(`FAIL ${name}: ${e && e.stack || e}`); }
}
const stream = (s) => Readable.from([Buffer.from(s)]);
async function text(r) { const chunks = []; for await (const c of r) chunks.push(Buffer.from(c)); return Buffer.concat(chunks).toString(); }
async function status(p) {
  try { await p; return 200; } catch (e) {
    if (e.responseInfo) return e.responseInfo.statusCode;
    // On a 401 the SDK asks the developer-token auth to refresh, which it cannot.
    if (/Developer token has expired/.test(e.message)) return 401;
    throw e;
  }
}

// A webhook receiver that validates with the SDK.
const received = [];
const server = http.createServer((req, res) => {
  let body = ''; req.on('data', (c) => body += c);
  req.on('end', async () => {
    const valid = await WebhooksManager.validateMessage(body, req.headers, env('LOCALBOX_WEBHOOK_PRIMARY_KEY'), { secondaryKey: env('LOCALBOX_WEBHOOK_SECONDARY_KEY') });
    received.push({ body: JSON.parse(body), valid, headers: req.headers });
    res.writeHead(200); res.end();
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const hookURL = `http://127.0.0.1:${server.address().port}/hook`;

let folder, file, version2, webhook, readToken;
await step('CCG token and users/me', async () => {
  const me = await client.users.getUserMe();
  assert.equal(me.type, 'user'); assert.ok(me.id);
});
await step('create folder and list items', async () => {
  folder = await client.folders.createFolder({ name: 'sdk-' + Date.now(), parent: { id: '0' } });
  assert.equal(folder.type, 'folder');
  const items = await client.folders.getFolderItems('0');
  assert.ok(items.entries.some((e) => e.id === folder.id));
});
await step('create webhook, list, get, update', async () => {
  webhook = await client.webhooks.createWebhook({ target: { id: folder.id, type: 'folder' }, address: hookURL, triggers: ['FILE.UPLOADED'] });
  assert.equal(webhook.type, 'webhook'); assert.equal(webhook.target.id, folder.id);
  const list = await client.webhooks.getWebhooks();
  assert.ok(list.entries.some((w) => w.id === webhook.id));
  const got = await client.webhooks.getWebhookById(webhook.id);
  assert.equal(got.address, hookURL);
  const upd = await client.webhooks.updateWebhookById(webhook.id, { requestBody: { triggers: ['FILE.UPLOADED', 'FILE.DELETED'] } });
  assert.deepEqual([...upd.triggers].sort(), ['FILE.DELETED', 'FILE.UPLOADED']);
});
await step('upload file', async () => {
  const files = await client.uploads.uploadFile({ attributes: { name: 'talk.txt', parent: { id: folder.id } }, file: stream('hello from the sdk') });
  file = files.entries[0];
  assert.equal(file.name, 'talk.txt'); assert.ok(file.fileVersion.id); assert.equal(file.size, 18);
});
await step('file info with fields', async () => {
  const f = await client.files.getFileById(file.id, { queryParams: { fields: ['name', 'size', 'sha1'] } });
  assert.equal(f.name, 'talk.txt'); assert.equal(f.size, 18); assert.equal(f.sha1, file.sha1);
});
await step('download', async () => {
  assert.equal(await text(await client.downloads.downloadFile(file.id)), 'hello from the sdk');
});
await step('upload new version', async () => {
  const files = await client.uploads.uploadFileVersion(file.id, { attributes: { name: 'talk.txt' }, file: stream('second version') });
  version2 = files.entries[0].fileVersion.id;
  assert.notEqual(version2, file.fileVersion.id);
  const versions = await client.fileVersions.getFileVersions(file.id);
  assert.equal(versions.entries[0].id, file.fileVersion.id);
});
await step('webhook deliveries validate with the SDK', async () => {
  for (let i = 0; i < 100 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(received.length, 2, 'two FILE.UPLOADED deliveries');
  for (const r of received) {
    assert.equal(r.valid, true, 'validateMessage');
    assert.equal(r.body.trigger, 'FILE.UPLOADED'); assert.equal(r.body.source.id, file.id);
  }
  assert.deepEqual(received.map((r) => r.body.source.file_version.id).sort(), [file.fileVersion.id, version2].sort());
});
await step('downscope: scope and resource enforced', async () => {
  const other = (await client.uploads.uploadFile({ attributes: { name: 'other.txt', parent: { id: folder.id } }, file: stream('x') })).entries[0];
  const tok = await auth.downscopeToken(['item_preview', 'item_download'], `${base}/2.0/files/${file.id}`, undefined, client.networkSession);
  assert.ok(tok.accessToken); assert.ok(tok.expiresIn > 0);
  readToken = tok.accessToken;
  const restricted = new BoxClient({ auth: new BoxDeveloperTokenAuth({ token: readToken }) }).withCustomBaseUrls(urls);
  assert.equal((await restricted.files.getFileById(file.id)).id, file.id);
  assert.equal(await text(await restricted.downloads.downloadFile(file.id)), 'second version');
  assert.equal(await status(restricted.files.getFileById(other.id)), 404);
  assert.equal(await status(restricted.fileMetadata.createFileMetadataById(file.id, 'global', 'properties', { a: 'b' })), 403);
});
await step('metadata: create, 409, update (JSON Patch), get, list, delete', async () => {
  const md = await client.fileMetadata.createFileMetadataById(file.id, 'global', 'properties', { lang: 'en' });
  assert.equal(md.template, 'properties');
  assert.equal(await status(client.fileMetadata.createFileMetadataById(file.id, 'global', 'properties', { lang: 'en' })), 409);
  const up = await client.fileMetadata.updateFileMetadataById(file.id, 'global', 'properties', [{ op: 'replace', path: '/lang', value: 'fr' }]);
  assert.equal(up.extraData.lang, 'fr');
  const got = await client.fileMetadata.getFileMetadataById(file.id, 'global', 'properties');
  assert.equal(got.extraData.lang, 'fr');
  const list = await client.fileMetadata.getFileMetadata(file.id);
  assert.equal(list.entries.length, 1);
  await client.fileMetadata.deleteFileMetadataById(file.id, 'global', 'properties');
  assert.equal(await status(client.fileMetadata.getFileMetadataById(file.id, 'global', 'properties')), 404);
});
await step('skills cards: create, get, update', async () => {
  const card = (code) => ({ type: 'skill_card', skillCardType: 'status', skill: { type: 'service', id: 'filesight' }, invocation: { type: 'skill_invocation', id: 'inv-1' }, status: { code } });
  const created = await client.skills.createBoxSkillCardsOnFile(file.id, { cards: [card('processing')] });
  assert.equal(created.cards.length, 1);
  const updated = await client.skills.updateBoxSkillCardsOnFile(file.id, [{ op: 'replace', path: '/cards/0', value: card('success') }]);
  assert.equal(updated.cards[0].status.code, 'success');
  const got = await client.skills.getBoxSkillCardsOnFile(file.id);
  assert.equal(got.cards[0].status.code, 'success');
});
await step('search finds a file by a word only spoken in it', async () => {
  const talk = (await client.uploads.uploadFile({ attributes: { name: 'keynote.mp4', parent: { id: folder.id } }, file: stream('not really a video') })).entries[0];
  await client.skills.createBoxSkillCardsOnFile(talk.id, { cards: [{
    type: 'skill_card', skillCardType: 'transcript', skillCardTitle: { code: 'transcript', message: 'Transcript' },
    skill: { type: 'service', id: 'filesight' }, invocation: { type: 'skill_invocation', id: 'inv-2' }, duration: 60,
    entries: [{ text: 'good morning everybody', appears: [{ start: 2 }] }, { text: 'welcome to the pangolin summit', appears: [{ start: 12 }] }],
  }] });
  const res = await client.search.searchForContent({ query: 'pangolin', type: 'file', contentTypes: ['file_content'], ancestorFolderIds: [folder.id] });
  assert.equal(res.type, 'search_results_items');
  assert.equal(res.totalCount, 1);
  assert.equal(res.entries.length, 1);
  assert.equal(res.entries[0].type, 'file'); assert.equal(res.entries[0].id, talk.id); assert.equal(res.entries[0].name, 'keynote.mp4');
  // Where it was said: localbox's extra member, kept in the raw answer.
  const [m] = res.rawData.entries[0].localbox_matches;
  assert.equal(m.card_type, 'transcript'); assert.equal(m.text, 'welcome to the pangolin summit'); assert.equal(m.start, 12);
  assert.equal((await client.search.searchForContent({ query: 'pangolin', contentTypes: ['name'] })).totalCount, 0);
  assert.equal((await client.search.searchForContent({ query: 'keynote' })).entries[0].id, talk.id);
});
await step('revoke a downscoped token', async () => {
  await client.authorization.revokeAccessToken({ clientId: env('LOCALBOX_CLIENT_ID'), clientSecret: env('LOCALBOX_CLIENT_SECRET'), token: readToken });
  const restricted = new BoxClient({ auth: new BoxDeveloperTokenAuth({ token: readToken }) }).withCustomBaseUrls(urls);
  assert.equal(await status(restricted.files.getFileById(file.id)), 401);
});
await step('delete webhook and file', async () => {
  await client.webhooks.deleteWebhookById(webhook.id);
  assert.equal(await status(client.webhooks.getWebhookById(webhook.id)), 404);
  await client.files.deleteFileById(file.id);
  assert.equal(await status(client.files.getFileById(file.id)), 404);
});

server.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
