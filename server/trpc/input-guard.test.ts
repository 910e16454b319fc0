// The input guard alone: superjson envelopes refused before decoding, and a text walk that ends on any object graph.
import { describe, expect, it } from 'vitest';
import superjson from 'superjson';
import { badTextIn, checkEnvelope, inputTransformer } from './input-guard.ts';

describe('checkEnvelope', () => {
  it('refuses reference metadata in both of superjson’s forms, and types no input takes', () => {
    expect(() => checkEnvelope({ json: { a: {} }, meta: { referentialEqualities: { a: ['a.b'] } } })).toThrow(/referentialEqualities/);
    expect(() => checkEnvelope({ json: { self: null }, meta: { referentialEqualities: [['self']] } })).toThrow(/referentialEqualities/);
    expect(() => checkEnvelope({ json: {}, meta: { values: { a: [['class', 'Foo']] } } })).toThrow(/"class"/);
    expect(() => checkEnvelope({ json: {}, meta: { values: ['map', { x: ['set'] }] } })).toThrow(/"map"/);
    expect(() => checkEnvelope({ json: {}, meta: { values: { a: 'Date' } } })).toThrow(/malformed/);
    expect(() => checkEnvelope({ json: {}, meta: 'x' })).toThrow(/malformed/);
  });

  it('lets through what superjson makes of our inputs: undefined fields, NaN and dates', () => {
    const payload = superjson.serialize({ a: undefined, n: Number.NaN, when: new Date(0), list: [1, undefined] });
    expect(inputTransformer.deserialize(payload)).toEqual({ a: undefined, n: Number.NaN, when: new Date(0), list: [1, undefined] });
    expect(inputTransformer.deserialize({ json: 'plain' })).toBe('plain');
  });
});

describe('badTextIn', () => {
  it('finds NUL and lone surrogates in values and keys, with their path', () => {
    expect(badTextIn({ a: [{ b: 'x\u0000' }] })).toEqual({ path: 'a.0.b', problem: 'must not contain NUL characters' });
    expect(badTextIn({ a: { ['k\ud800']: 1 } })).toEqual({ path: 'a.k\ud800', problem: 'must be valid Unicode text (no lone UTF-16 surrogates)' });
    expect(badTextIn('\udfff')).toEqual({ path: '', problem: 'must be valid Unicode text (no lone UTF-16 surrogates)' });
    expect(badTextIn({ emoji: '😀 𝄞', ok: ['é'] })).toBeNull();
  });

  it('ends on an input that contains itself, and walks a shared object once', () => {
    const cyclic: Record<string, unknown> = { id: 'x' };
    cyclic.self = cyclic;
    cyclic.list = [cyclic, { back: cyclic }];
    expect(badTextIn(cyclic)).toBeNull();
    cyclic.bad = 'a\u0000';
    expect(badTextIn(cyclic)?.path).toBe('bad');
    // 2^40 paths through 40 shared levels: visited once each, so this is instant.
    let level: unknown = { leaf: 'fine' };
    for (let i = 0; i < 40; i++) level = { left: level, right: level };
    expect(badTextIn(level)).toBeNull();
  });
});
