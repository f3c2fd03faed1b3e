import express from 'express';

/** The baseline: a plain Express route returning a fixed 1 KB JSON body. */
const body = { resourceType: 'Basic', id: 'baseline', text: 'x'.repeat(1024 - 50) };
const app = express();
app.get('/baseline', (_req, res) => {
  res.json(body);
});
/**
 * The import baseline: takes a transaction Bundle, parses it and answers every entry
 * `201 Created` without storing anything, so the importer and HTTP cost alone is measured.
 */
app.post('/fhir', express.json({ limit: '64mb', type: () => true }), (req, res) => {
  const entries = (req.body as { entry?: unknown[] }).entry ?? [];
  res.json({
    resourceType: 'Bundle',
    type: 'transaction-response',
    entry: entries.map(() => ({ response: { status: '201 Created' } })),
  });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address() as import('node:net').AddressInfo;
  console.log(JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${address.port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
