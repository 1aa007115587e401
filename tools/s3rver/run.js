// Starts @20minutes/s3rver (its package ships no bin script). Arguments as s3rver's CLI:
//   node --openssl-legacy-provider run.js -d DIR -a 127.0.0.1 -p PORT --configure-bucket NAME
require('@20minutes/s3rver/lib/cli').parseAsync(process.argv).catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
