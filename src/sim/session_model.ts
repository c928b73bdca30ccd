/**
 * Session lengths for continuous churn. Measurements of Kad, BitTorrent and Gnutella (Stutzbach
 * & Rejaie, IMC 2006; Steiner et al., ToN 2009) found session times heavy-tailed, fitting a
 * Weibull (shape k ≈ 0.34–0.59) or a log-normal distribution better than an exponential, and
 * arrivals Poisson: most sessions last minutes, a few last days. Both distributions are set here by
 * their median and a shape, and drawn from an injected generator, so one seed gives one run.
 *
 * @module
 */

import { assert } from "../core/assert.ts";
import { randomFloat, type Rng } from "../core/rng.ts";

/** The session-length distributions the simulator offers. */
export const SESSION_MODELS = ["weibull", "lognormal"] as const;

/** One of {@link SESSION_MODELS}. */
export type SessionModelName = typeof SESSION_MODELS[number];

/**
 * Default shape per model: Weibull k = 0.5 (the middle of the BitTorrent fits), log-normal σ = 1.5
 * (a tail of similar weight: the mean is about 3× the median for both).
 */
export const SESSION_SHAPE_DEFAULT: Readonly<Record<SessionModelName, number>> = {
  weibull: 0.5,
  lognormal: 1.5,
};

/** A session-length distribution. */
export interface SessionModel {
  /** Which distribution. */
  name: SessionModelName;
  /** Half of all sessions are shorter than this, in ms. */
  medianMs: number;
  /** Weibull: the shape k (smaller: heavier tail). Log-normal: σ of the logarithm. */
  shape: number;
}

/**
 * Checks a model's parameters.
 *
 * @param model The model.
 * @throws {RangeError} Naming the parameter out of range.
 */
export function checkSessionModel(model: SessionModel): void {
  if (!SESSION_MODELS.includes(model.name)) {
    throw new RangeError(`Unknown session model "${model.name}"`);
  }
  if (!(Number.isFinite(model.medianMs) && model.medianMs > 0)) {
    throw new RangeError(`Session median is ${model.medianMs} ms, expected more than 0`);
  }
  // Below 0.1 the Weibull mean (Γ(1 + 1/k)) passes 10^6 medians; above 10 both are nearly fixed.
  if (!(model.shape >= 0.1 && model.shape <= 10)) {
    throw new RangeError(`Session shape is ${model.shape}, expected 0.1 to 10`);
  }
}

/**
 * The mean session length: Weibull λ·Γ(1 + 1/k), log-normal e^(μ + σ²/2).
 *
 * @param model The model.
 * @returns The mean, in ms.
 */
export function sessionMeanMs(model: SessionModel): number {
  if (model.name === "weibull") return weibullScaleMs(model) * gamma(1 + 1 / model.shape);
  return model.medianMs * Math.exp(model.shape * model.shape / 2);
}

/**
 * A fresh session's length: how long a node that arrives now stays.
 *
 * @param model The model.
 * @param rng The generator.
 * @returns The length, in ms (positive).
 */
export function drawSessionMs(model: SessionModel, rng: Rng): number {
  if (model.name === "weibull") {
    return weibullScaleMs(model) * Math.pow(exponential(rng), 1 / model.shape);
  }
  return model.medianMs * Math.exp(model.shape * standardNormal(rng));
}

/**
 * What is left of the session of a node found online at a random instant of a steady network.
 * Long sessions are more likely to be in progress (length-biased sampling), and the node is at a
 * uniform point of its session: starting a network with fresh sessions instead would make it
 * lose most of its nodes in the first median, which no steady network does.
 *
 * Length-biased Weibull: (L/λ)^k follows Gamma(1 + 1/k, 1); length-biased log-normal(μ, σ) is
 * log-normal(μ + σ², σ).
 *
 * @param model The model.
 * @param rng The generator.
 * @returns The remaining length, in ms (positive).
 */
export function drawResidualSessionMs(model: SessionModel, rng: Rng): number {
  const biased = model.name === "weibull"
    ? weibullScaleMs(model) * Math.pow(gammaVariate(1 + 1 / model.shape, rng), 1 / model.shape)
    : model.medianMs * Math.exp(model.shape * model.shape + model.shape * standardNormal(rng));
  return biased * (1 - randomFloat(rng));
}

/**
 * An exponential variate: the gap to the next event of a Poisson process.
 *
 * @param meanMs The mean gap, in ms.
 * @param rng The generator.
 * @returns The gap, in ms (positive).
 */
export function drawExponentialMs(meanMs: number, rng: Rng): number {
  return meanMs * exponential(rng);
}

/** λ of a Weibull with the model's median: median = λ·(ln 2)^(1/k). */
function weibullScaleMs(model: SessionModel): number {
  return model.medianMs / Math.pow(Math.LN2, 1 / model.shape);
}

/** Exp(1), never 0 (so a power of it is never 0 either). */
function exponential(rng: Rng): number {
  return -Math.log(1 - randomFloat(rng));
}

/** N(0, 1) by Box–Muller (one of the pair is used: simple, and cheap enough here). */
function standardNormal(rng: Rng): number {
  const u = 1 - randomFloat(rng);
  const v = randomFloat(rng);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Gamma(shape, 1) for shape ≥ 1, by Marsaglia & Tsang (2000). The loop accepts with probability
 * above 0.95; the bound only guards against a broken generator.
 */
function gammaVariate(shape: number, rng: Rng): number {
  assert(shape >= 1, `gammaVariate needs shape ≥ 1, got ${shape}`);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const x = standardNormal(rng);
    const v = Math.pow(1 + c * x, 3);
    if (v <= 0) continue;
    const u = 1 - randomFloat(rng);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
  throw new Error(`gammaVariate(${shape}) rejected 1000 candidates: the generator is broken`);
}

/** Lanczos coefficients (g = 7, n = 9): Γ to about 15 significant digits. */
const lanczos = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/**
 * Γ(x) for x ≥ 1 (the Lanczos approximation).
 *
 * @param x The argument.
 * @returns Γ(x).
 */
export function gamma(x: number): number {
  assert(x >= 1, `gamma needs x ≥ 1, got ${x}`);
  const z = x - 1;
  let sum = lanczos[0];
  for (let i = 1; i < lanczos.length; i++) sum += lanczos[i] / (z + i);
  const t = z + 7.5;
  return Math.sqrt(2 * Math.PI) * Math.pow(t, z + 0.5) * Math.exp(-t) * sum;
}
