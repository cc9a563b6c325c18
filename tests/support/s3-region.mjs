// One S3 "region" for the backup tests: s3rver (a real S3-protocol server, from
// tests/clients/node_modules) on 127.0.0.1 and, in front of it, a proxy that checks every
// request's AWS Signature V4 as S3 does, since s3rver checks none: the Authorization header
// (credential scope with the given region and service s3, the signed headers, the signature over
// the canonical request, computed here from the secret), x-amz-date within 15 minutes, every
// x-amz-* header signed, and x-amz-content-sha256 equal to the SHA-256 of the body that came.
// A request that passes goes to s3rver as it came; one that fails gets S3's XML error (403
// SignatureDoesNotMatch for a wrong signature, 403 InvalidAccessKeyId, 400
// XAmzContentSHA256Mismatch, ...) and never reaches it. GET /-/stats (no bucket can be named
// "-") answers {"verified":N,"refused":M}.
//
//   node --openssl-legacy-provider s3-region.mjs --dir DIR --bucket BUCKET --credentials FILE [--profile default]
//                      [--region us-east-1] [--port 0]
//
// --openssl-legacy-provider: s3rver makes its ListObjectsV2 continuation tokens with DES, which
// OpenSSL 3 keeps in its legacy provider; without it every truncated listing is a 500.
// The access key id and the secret are read from FILE (AWS shared-credentials format), never
// from argv. When ready it prints one line, {"endpoint":"http://127.0.0.1:PORT","pid":PID}; on
// SIGTERM (or SIGINT) it stops both servers and exits 0.
import { createCipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'clients', 'package.json'));

const BODY_MAX = 300 * 1024 * 1024;
const SKEW_MS = 15 * 60 * 1000;

function usage(msg) {
	process.stderr.write(`s3-region: ${msg}\n`);
	process.exit(2);
}

function parseArgs(argv) {
	const opts = { profile: 'default', region: 'us-east-1', port: '0' };
	const known = new Set(['dir', 'bucket', 'credentials', 'profile', 'region', 'port']);
	for (let i = 0; i < argv.length; i += 2) {
		const k = argv[i]?.replace(/^--/, '');
		if (!argv[i]?.startsWith('--') || !known.has(k) || argv[i + 1] === undefined)
			usage(`unknown or incomplete option ${argv[i]}`);
		opts[k] = argv[i + 1];
	}
	for (const k of ['dir', 'bucket', 'credentials'])
		if (!opts[k]) usage(`--${k} is required`);
	if (!/^\d+$/.test(opts.port) || Number(opts.port) > 65535) usage('--port must be 0 to 65535');
	return opts;
}

// [profile] of an AWS shared-credentials file.
function readCredentials(path, profile) {
	let section = null;
	const found = {};
	for (const raw of readFileSync(path, 'utf8').split('\n')) {
		const line = raw.trim();
		if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
		const m = /^\[\s*(.+?)\s*\]$/.exec(line);
		if (m) {
			section = m[1];
			continue;
		}
		if (section !== profile) continue;
		const eq = line.indexOf('=');
		if (eq < 0) continue;
		found[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
	}
	if (!found.aws_access_key_id || !found.aws_secret_access_key)
		usage(`${path}: profile [${profile}] has no aws_access_key_id and aws_secret_access_key`);
	return {
		id: found.aws_access_key_id,
		secret: found.aws_secret_access_key,
		token: found.aws_session_token,
	};
}

// SigV4's URI encoding: unreserved characters as they are, every other byte %XX (upper case).
function awsEncode(s) {
	return encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

const sha256hex = data => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

class Refusal extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

// The canonical request of SigV4 for S3 (no double encoding of the path), from what came.
function canonicalRequest(req, signedHeaders, payloadHash) {
	const q = req.url.indexOf('?');
	const rawPath = q < 0 ? req.url : req.url.slice(0, q);
	const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
	let path, query;
	try {
		path = rawPath.split('/').map(s => awsEncode(decodeURIComponent(s))).join('/');
		query = rawQuery
			.split('&')
			.filter(p => p !== '')
			.map(p => {
				const eq = p.indexOf('=');
				const k = eq < 0 ? p : p.slice(0, eq);
				const v = eq < 0 ? '' : p.slice(eq + 1);
				return [awsEncode(decodeURIComponent(k)), awsEncode(decodeURIComponent(v))];
			})
			.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
			.map(([k, v]) => `${k}=${v}`)
			.join('&');
	} catch {
		throw new Refusal(400, 'InvalidURI', 'Couldn\'t parse the specified URI.');
	}
	const values = new Map();
	for (let i = 0; i < req.rawHeaders.length; i += 2) {
		const name = req.rawHeaders[i].toLowerCase();
		const v = req.rawHeaders[i + 1].trim().replace(/\s+/g, ' ');
		values.set(name, values.has(name) ? `${values.get(name)},${v}` : v);
	}
	const headers = signedHeaders.map(h => {
		if (!values.has(h))
			throw new Refusal(403, 'SignatureDoesNotMatch', `The signed header ${h} is not in the request.`);
		return `${h}:${values.get(h)}\n`;
	});
	return [req.method, path, query, headers.join(''), signedHeaders.join(';'), payloadHash].join('\n');
}

// Checks one request; throws a Refusal saying why not.
function verify(req, body, creds, region) {
	const auth = req.headers['authorization'];
	if (auth === undefined) throw new Refusal(403, 'AccessDenied', 'Anonymous requests are refused.');
	const m = /^AWS4-HMAC-SHA256 Credential=([^,\s]+), ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
	if (!m)
		throw new Refusal(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
	const [, credential, signedList, signature] = m;
	const scope = credential.split('/');
	if (scope.length !== 5 || scope[4] !== 'aws4_request')
		throw new Refusal(400, 'AuthorizationHeaderMalformed', 'The credential scope is malformed.');
	const [id, date, scopeRegion, service] = scope;
	if (id !== creds.id)
		throw new Refusal(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
	if (scopeRegion !== region)
		throw new Refusal(400, 'AuthorizationHeaderMalformed', `The region '${scopeRegion}' is wrong; expecting '${region}'.`);
	if (service !== 's3')
		throw new Refusal(400, 'AuthorizationHeaderMalformed', `The service '${service}' is wrong; expecting 's3'.`);
	const amzDate = req.headers['x-amz-date'] ?? '';
	const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
	if (!dm || amzDate.slice(0, 8) !== date)
		throw new Refusal(403, 'AccessDenied', 'x-amz-date is missing, malformed or not the credential\'s date.');
	const at = Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]);
	if (Math.abs(Date.now() - at) > SKEW_MS)
		throw new Refusal(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
	const signed = signedList.split(';');
	const sorted = [...new Set(signed)].sort();
	if (sorted.join(';') !== signedList)
		throw new Refusal(400, 'AuthorizationHeaderMalformed', 'SignedHeaders must be sorted and distinct.');
	for (const h of ['host', 'x-amz-date', 'x-amz-content-sha256'])
		if (!signed.includes(h)) throw new Refusal(403, 'AccessDenied', `The header ${h} is not signed.`);
	for (const h of Object.keys(req.headers))
		if (h.startsWith('x-amz-') && !signed.includes(h))
			throw new Refusal(403, 'AccessDenied', `There were headers present in the request which were not signed: ${h}.`);
	if (creds.token !== undefined && req.headers['x-amz-security-token'] !== creds.token)
		throw new Refusal(403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
	const contentSha = req.headers['x-amz-content-sha256'];
	if (!/^[0-9a-f]{64}$/.test(contentSha))
		throw new Refusal(400, 'InvalidArgument', 'x-amz-content-sha256 must be the hex SHA-256 of the body.');
	if (contentSha !== sha256hex(body))
		throw new Refusal(400, 'XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.');
	const canonical = canonicalRequest(req, signed, contentSha);
	const stringToSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/s3/aws4_request`, sha256hex(canonical)].join('\n');
	const key = hmac(hmac(hmac(hmac(`AWS4${creds.secret}`, date), region), 's3'), 'aws4_request');
	const expected = hmac(key, stringToSign);
	if (!timingSafeEqual(expected, Buffer.from(signature, 'hex')))
		throw new Refusal(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
}

const xmlEscape = s => s.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);

function refuse(res, e) {
	const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
		`<Error><Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message>` +
		`<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`;
	res.writeHead(e.status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
	res.end(body);
}

async function main() {
	const opts = parseArgs(process.argv.slice(2));
	try {
		createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
	} catch {
		usage('s3rver\'s continuation tokens need DES: run node with --openssl-legacy-provider');
	}
	const creds = readCredentials(opts.credentials, opts.profile);
	const S3rver = require('s3rver');
	// s3rver accepts a V4 request of a key pair it knows (it checks no signature); the proxy
	// has checked it by then
	require('s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair(creds.id, creds.secret);
	const s3 = new S3rver({
		address: '127.0.0.1',
		port: 0,
		directory: opts.dir,
		silent: true,
		vhostBuckets: false,
		configureBuckets: [{ name: opts.bucket }],
	});
	const inner = await s3.run();
	const stats = { verified: 0, refused: 0 };

	const proxy = http.createServer((req, res) => {
		if (req.method === 'GET' && req.url === '/-/stats' && req.headers['authorization'] === undefined) {
			const body = JSON.stringify(stats);
			res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
			res.end(body);
			return;
		}
		const chunks = [];
		let size = 0;
		req.on('data', c => {
			size += c.length;
			if (size > BODY_MAX) {
				req.destroy();
				return;
			}
			chunks.push(c);
		});
		req.on('end', () => {
			const body = Buffer.concat(chunks);
			try {
				verify(req, body, creds, opts.region);
			} catch (e) {
				if (!(e instanceof Refusal)) throw e;
				stats.refused++;
				process.stderr.write(`s3-region: refused ${req.method} ${req.url}: ${e.code}: ${e.message}\n`);
				refuse(res, e);
				return;
			}
			stats.verified++;
			const fwd = http.request(
				{ host: inner.address, port: inner.port, method: req.method, path: req.url, headers: req.headers },
				up => {
					res.writeHead(up.statusCode, up.headers);
					up.pipe(res);
				},
			);
			fwd.on('error', err => {
				res.writeHead(502, { 'Content-Type': 'text/plain' });
				res.end(`s3rver: ${err.message}\n`);
			});
			fwd.end(body);
		});
	});
	await new Promise((resolve, reject) => {
		proxy.once('error', reject);
		proxy.listen(Number(opts.port), '127.0.0.1', resolve);
	});

	const stop = () => {
		proxy.close();
		proxy.closeAllConnections();
		s3.close().finally(() => process.exit(0));
		setTimeout(() => process.exit(0), 2000).unref();
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
	process.stdout.write(JSON.stringify({ endpoint: `http://127.0.0.1:${proxy.address().port}`, pid: process.pid }) + '\n');
}

main().catch(err => {
	process.stderr.write(`s3-region: ${err.stack ?? err}\n`);
	process.exit(1);
});
