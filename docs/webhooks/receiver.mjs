import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

const secretToken = process.env.ZOOM_WEBHOOK_SECRET_TOKEN;
const sign = (text) => createHmac('sha256', secretToken).update(text).digest('hex');
const [host, port] = (process.env.LISTEN ?? '127.0.0.1:4000').split(':');

function answer(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

createServer((req, res) => {
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { raw += chunk; });
  req.on('end', () => {
    let event;
    try {
      event = JSON.parse(raw);
    } catch {
      return answer(res, 400, { message: 'not JSON' });
    }
    const message = `v0:${req.headers['x-zm-request-timestamp']}:${JSON.stringify(event)}`;
    const expected = Buffer.from(`v0=${sign(message)}`);
    const given = Buffer.from(req.headers['x-zm-signature'] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return answer(res, 401, { message: 'signature does not verify' });
    }
    if (event.event === 'endpoint.url_validation') {
      const { plainToken } = event.payload;
      return answer(res, 200, { plainToken, encryptedToken: sign(plainToken) });
    }
    console.log(JSON.stringify(event)); // handle the event here
    answer(res, 200, {});
  });
}).listen(Number(port), host);
