#!/usr/bin/env node
// The planner port (js/planner.mjs) on cases written by tests/test_web_demo.py, which compares the
// answers with runtime/planner.py:
//
//   node web_demo/test/planner_cases.mjs CASES.json   -> JSON on stdout
//
// CASES: {plans: [{signatures, batch, length}], pads: [{spec, step, value: {data, shape}}]}; signatures
// and specs as in manifest.json. Prints {plans: [[{signature, start, stop, batch, length}] | {error}],
// pads: [{data, shape}]}.

import { readFileSync } from 'node:fs';

import { NdArray, pad, plan } from '../js/planner.mjs';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const signature = (doc) => ({ ...doc, batch: { min: doc.batch[0], max: doc.batch[1] }, length: { min: doc.length[0], max: doc.length[1] } });
const plans = cases.plans.map(({ signatures, batch, length }) => {
  try {
    return plan(signatures.map(signature), batch, length)
      .map((s) => ({ signature: s.signature.name, start: s.start, stop: s.stop, batch: s.batch, length: s.length }));
  } catch (error) {
    return { error: `${error.name}: ${error.message}` };
  }
});
const pads = cases.pads.map(({ spec, step, value }) => {
  const array = new NdArray((spec.dtype === 'int32' ? Int32Array : Float32Array).from(value.data), value.shape);
  const out = pad(array, spec, step);
  return { data: Array.from(out.data), shape: out.shape };
});
process.stdout.write(JSON.stringify({ plans, pads }));
