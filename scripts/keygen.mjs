#!/usr/bin/env zx
// npm run keygen -- PATH: makes an Ed25519 key pair for signing probe bundles:
// PATH.pem (private, mode 0600: keep it off the repository and off the
// target hosts) and PATH.pub (give it to the users who should trust your
// bundles: kdelay --trust-key PATH.pub, or /etc/kdelay/trusted-keys/).
import { generateKeyPairSync } from 'node:crypto';
import { fs } from 'zx';

const [prefix] = argv._;
if (!prefix) {
  echo('usage: npm run keygen -- PATH   (writes PATH.pem and PATH.pub)');
  process.exit(2);
}
if ((await fs.pathExists(`${prefix}.pem`)) || (await fs.pathExists(`${prefix}.pub`))) {
  echo(`${prefix}.pem or ${prefix}.pub exists; not overwriting a key`);
  process.exit(1);
}
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
await fs.writeFile(`${prefix}.pem`, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
await fs.writeFile(`${prefix}.pub`, publicKey.export({ type: 'spki', format: 'pem' }));
const { keyId } = await import('../dist/host/bundle/seal.js');
echo(`wrote ${prefix}.pem (private) and ${prefix}.pub (public); key id ${keyId(publicKey)}`);
