import express from 'express';

/** The baseline: a plain Express route returning a fixed 1 KB JSON body. */
const body = { resourceType: 'Basic', id: 'baseline', text: 'x'.repeat(1024 - 50) };
const app = express();
app.get('/baseline', (_req, res) => {
  res.json(body);
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address() as import('node:net').AddressInfo;
  console.log(JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${address.port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
