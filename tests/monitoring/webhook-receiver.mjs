#!/usr/bin/env node
// The test's stand-in for PagerDuty, Slack and any webhook Alertmanager notifies: an HTTP server on
// 127.0.0.1 that appends every POST it receives to FILE as one JSON line
//   {"time": ISO-8601, "path": "/pagerduty", "body": <the parsed JSON body, or null>, "raw": <the
//    body as text when it is not JSON>}
// and answers as the real service would: 202 {"status":"success",...} on /pagerduty (PagerDuty's
// Events API v2), 200 "ok" elsewhere. GET answers 200 (the test waits for that before going on).
//
//   node webhook-receiver.mjs PORT FILE
import fs from 'node:fs';
import http from 'node:http';

const [port, file] = process.argv.slice(2);
if (!port || !file) {
	console.error('usage: webhook-receiver.mjs PORT FILE');
	process.exit(2);
}

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		if (req.method !== 'POST') {
			res.writeHead(200, { 'Content-Type': 'text/plain' });
			res.end('ok\n');
			return;
		}
		const raw = Buffer.concat(chunks).toString('utf8');
		let body = null;
		try {
			body = JSON.parse(raw);
		} catch {
			body = null;
		}
		const record = { time: new Date().toISOString(), path: req.url, body };
		if (body === null) record.raw = raw;
		// one write(2) per line, so that a reader sees whole lines
		fs.appendFileSync(file, JSON.stringify(record) + '\n');
		if (req.url.startsWith('/pagerduty')) {
			res.writeHead(202, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ status: 'success', message: 'Event processed',
				dedup_key: body?.dedup_key ?? '' }));
		} else {
			res.writeHead(200, { 'Content-Type': 'text/plain' });
			res.end('ok\n');
		}
	});
});

server.listen(Number(port), '127.0.0.1', () => {
	console.log(`listening on 127.0.0.1:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
	process.on(signal, () => {
		server.close();
		process.exit(0);
	});
}
