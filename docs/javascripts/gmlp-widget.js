// The post's live gMLP: the small causal language model of spatial_weights.png, run in the
// reader's browser. No framework, nothing fetched but the two files the figure build exports
// (posts/2024-02-02-blog-post-2/fig_tiny_lm.py): tiny_lm.json (config, tensor table) and tiny_lm.bin
// (float32, little-endian).
//
// The model classes carry the names of gmlp_snippets' (LayerNorm, ChannelProjection,
// SpatialGatingUnit, GMLPBlock, GMLP, GMLPForCausalLM), so the two read side by side; the
// numbers are doubles, and tests/test_widget.py checks the logits against torch's (1e-4).
//
// Shapes: n - tokens (the model reads at most seq_len of them), d - d_model, h - d_ffn / 2,
// V - vocabulary (256 bytes). A matrix is a row-major Float64Array: x[r * cols + c].
//
// On the page: <div class="gmlp-widget" data-weights="<url of tiny_lm.json>"></div>
// (optional data-text: the text it starts with). It is mounted on every page Material shows,
// instant navigation included (document$), or on DOMContentLoaded without Material.
//
// From the console or a test (window.gmlpWidget):
//   load(url)                      -> Promise<GMLPForCausalLM>, one per URL
//   logits(bytes)                  -> one row of V logits per byte read (the last loaded
//                                     model; of a longer input, the last seq_len bytes)
//   model.forward(bytes)           -> {tokens, logits (n x V), gates: f(Z2) per block}
//   model.generate(bytes, count, {temperature, seed}) -> Uint8Array (temperature 0: greedy)
;(() => {
  "use strict"

  // ---- numbers ---------------------------------------------------------------------------

  const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI)

  /** erf(x) to ~1e-15, slowly: Maclaurin series below 2.5, the erfc continued fraction above.
   * (Abramowitz-Stegun 7.1.26 is off by up to 1.5e-7; this is as exact as a double allows.) */
  function erfSeries(x) {
    if (Number.isNaN(x)) return NaN
    const a = Math.abs(x)
    let r
    if (a < 2.5) {
      // erf(a) = 2/sqrt(pi) * sum_k (-1)^k a^(2k+1) / (k! (2k+1))
      const a2 = a * a
      let term = a
      let sum = a
      for (let k = 1; k < 80; k++) {
        term *= -a2 / k
        const t = term / (2 * k + 1)
        sum += t
        if (Math.abs(t) <= 1e-17 * sum) break
      }
      r = TWO_OVER_SQRT_PI * sum
    } else if (a < ERF_MAX) {
      // erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...)))))
      let f = a
      for (let k = 60; k >= 1; k--) f = a + k / 2 / f
      r = 1 - Math.exp(-a * a) / (Math.sqrt(Math.PI) * f)
    } else {
      r = 1 // erfc(6) < 3e-17: below a double's resolution near 1
    }
    return x < 0 ? -r : r
  }

  // erf, fast and as exact: a Taylor polynomial around the nearest point x0 of a 1/128 grid on
  // [0, 6]. erf^(k)(x0) = 2/sqrt(pi) (-1)^(k-1) H_{k-1}(x0) exp(-x0^2) (Hermite polynomials H);
  // with |x - x0| <= 1/256, the first term left out is below 3e-16. Built once, at load.
  const ERF_MAX = 6
  const ERF_STEP = 128 // grid points per unit
  const ERF_TERMS = 7 // erf(x0) and 6 derivatives
  const ERF_TABLE = (() => {
    const points = ERF_MAX * ERF_STEP + 1
    const table = new Float64Array(points * ERF_TERMS)
    for (let g = 0; g < points; g++) {
      const x0 = g / ERF_STEP
      const o = g * ERF_TERMS
      table[o] = erfSeries(x0)
      const scale = TWO_OVER_SQRT_PI * Math.exp(-x0 * x0)
      let hPrev = 0 // H_{-1}, unused
      let h = 1 // H_0
      let factorial = 1
      for (let k = 1; k < ERF_TERMS; k++) {
        factorial *= k
        table[o + k] = (k % 2 ? 1 : -1) * scale * h / factorial // erf^(k)(x0) / k!
        const next = 2 * x0 * h - 2 * (k - 1) * hPrev // H_k = 2x H_{k-1} - 2(k-1) H_{k-2}
        hPrev = h
        h = next
      }
    }
    return table
  })()

  /** erf(x) as exact as erfSeries, in a few multiply-adds (the GELU of every channel calls it). */
  function erf(x) {
    const a = Math.abs(x)
    if (!(a < ERF_MAX)) return Number.isNaN(x) ? NaN : Math.sign(x)
    const g = (a * ERF_STEP + 0.5) | 0 // the nearest grid point
    const t = a - g / ERF_STEP
    const o = g * ERF_TERMS
    let r = ERF_TABLE[o + ERF_TERMS - 1]
    for (let k = ERF_TERMS - 2; k >= 0; k--) r = r * t + ERF_TABLE[o + k]
    return x < 0 ? -r : r
  }

  /** GELU as torch's nn.GELU() (approximate="none"): x * Phi(x) = x/2 * (1 + erf(x/sqrt 2)). */
  function gelu(x) {
    return 0.5 * x * (1 + erf(x / Math.SQRT2))
  }

  const ACTIVATIONS = { gelu, relu: (x) => (x > 0 ? x : 0), null: (x) => x }

  // ---- the model: gmlp_snippets, module by module -----------------------------------------

  /** y = (x - E[x]) / sqrt(Var[x] + eps) * gamma + beta, over the channel axis (norm.py). */
  class LayerNorm {
    constructor(weight, bias, eps) {
      this.weight = weight
      this.bias = bias
      this.eps = eps
      this.d = weight.length
    }

    forward(x, rows) {
      const d = this.d
      const y = new Float64Array(rows * d)
      for (let r = 0; r < rows; r++) {
        const o = r * d
        let mean = 0
        for (let c = 0; c < d; c++) mean += x[o + c]
        mean /= d
        let v = 0
        for (let c = 0; c < d; c++) v += (x[o + c] - mean) ** 2
        const inv = 1 / Math.sqrt(v / d + this.eps) // biased variance, as torch
        for (let c = 0; c < d; c++) y[o + c] = (x[o + c] - mean) * inv * this.weight[c] + this.bias[c]
      }
      return y
    }
  }

  /** torch's nn.Linear: y = x A^T + b, A of shape (d_out, d_in). */
  class Linear {
    constructor(weight, bias, dOut, dIn) {
      this.weight = weight
      this.bias = bias
      this.dOut = dOut
      this.dIn = dIn
    }

    forward(x, rows) {
      const { dIn, dOut, weight, bias } = this
      const y = new Float64Array(rows * dOut)
      let r = 0
      // four tokens at a time: each weight is read once for four rows (about 3x faster in V8);
      // every sum is still added up in the same order as one row at a time
      for (; r + 4 <= rows; r += 4) {
        const x0 = r * dIn
        const x1 = x0 + dIn
        const x2 = x1 + dIn
        const x3 = x2 + dIn
        for (let o = 0; o < dOut; o++) {
          const wo = o * dIn
          let s0 = bias ? bias[o] : 0
          let s1 = s0
          let s2 = s0
          let s3 = s0
          for (let i = 0; i < dIn; i++) {
            const w = weight[wo + i]
            s0 += x[x0 + i] * w
            s1 += x[x1 + i] * w
            s2 += x[x2 + i] * w
            s3 += x[x3 + i] * w
          }
          y[r * dOut + o] = s0
          y[(r + 1) * dOut + o] = s1
          y[(r + 2) * dOut + o] = s2
          y[(r + 3) * dOut + o] = s3
        }
      }
      for (; r < rows; r++) {
        const xo = r * dIn
        for (let o = 0; o < dOut; o++) {
          const wo = o * dIn
          let s = bias ? bias[o] : 0
          for (let i = 0; i < dIn; i++) s += x[xo + i] * weight[wo + i]
          y[r * dOut + o] = s
        }
      }
      return y
    }
  }

  /** Z = σ(XU): each token goes from d_in to d_out channels, then σ (projection.py). */
  class ChannelProjection {
    constructor(proj, activation) {
      if (!(activation in ACTIVATIONS)) throw new Error(`ChannelProjection: unknown activation ${activation}`)
      this.proj = proj // U (and its bias), shared by all n tokens
      this.act = ACTIVATIONS[activation]
    }

    forward(x, rows) {
      const z = this.proj.forward(x, rows) // (n, d_in) -> (n, d_out)
      for (let k = 0; k < z.length; k++) z[k] = this.act(z[k])
      return z
    }
  }

  /** s(Z) = Z1 ⊙ f_{W,b}(norm(Z2)) with f_{W,b}(Z2) = W Z2 + b mixing the n tokens (sgu.py). */
  class SpatialGatingUnit {
    constructor(norm, weight, bias, dFfn, seqLen, causal) {
      this.norm = norm
      this.weight = weight // W: (seq_len, seq_len); row i says how token i reads the tokens j
      this.bias = bias // b: one per token
      this.dFfn = dFfn
      this.seqLen = seqLen
      this.causal = causal
    }

    /** z: (n, d_ffn) -> {s: (n, h), gate: f(Z2), (n, h)}. */
    forward(z, rows) {
      const h = this.dFfn / 2
      const N = this.seqLen
      const z1 = new Float64Array(rows * h)
      const z2 = new Float64Array(rows * h)
      for (let r = 0; r < rows; r++) {
        // z1, z2 = z.chunk(2, dim=-1)
        z1.set(z.subarray(r * 2 * h, r * 2 * h + h), r * h)
        z2.set(z.subarray(r * 2 * h + h, (r + 1) * 2 * h), r * h)
      }
      const z2n = this.norm.forward(z2, rows)
      const gate = this.gates(z2n, rows) // f(Z2) = W Z2 + b, over the token axis
      const s = new Float64Array(rows * h)
      for (let k = 0; k < s.length; k++) s[k] = z1[k] * gate[k]
      return { s, gate }
    }

    /** Row i of f(Z2) = W norm(Z2) + b, written to out[offset...]: b_i + sum_j W[i, j] norm(Z2)_j
     * over the j < rows, and only j <= i if causal (W's upper triangle counts as zero). */
    gateRow(i, z2n, rows, out, offset) {
      const h = this.dFfn / 2
      out.fill(this.bias[i], offset, offset + h)
      const last = this.causal ? i : rows - 1
      for (let j = 0; j <= last; j++) {
        const w = this.weight[i * this.seqLen + j]
        const zj = j * h
        for (let c = 0; c < h; c++) out[offset + c] += w * z2n[zj + c]
      }
    }

    /** gateRow for every row i, four rows at a time: each norm(Z2) value is read once for four
     * tokens (as Linear does; about 3x faster), and every sum is added up in gateRow's order. */
    gates(z2n, rows) {
      const h = this.dFfn / 2
      const N = this.seqLen
      const W = this.weight
      const gate = new Float64Array(rows * h)
      const zt = new Float64Array(rows * h) // channel-major: zt[c * rows + j] = norm(Z2)[j, c]
      for (let j = 0; j < rows; j++) for (let c = 0; c < h; c++) zt[c * rows + j] = z2n[j * h + c]
      let i = 0
      for (; i + 4 <= rows; i += 4) {
        const [w0, w1, w2, w3] = [i * N, (i + 1) * N, (i + 2) * N, (i + 3) * N]
        const shared = this.causal ? i : rows - 1 // tokens j that all four rows read
        for (let c = 0; c < h; c++) {
          const zc = c * rows
          let s0 = this.bias[i]
          let s1 = this.bias[i + 1]
          let s2 = this.bias[i + 2]
          let s3 = this.bias[i + 3]
          for (let j = 0; j <= shared; j++) {
            const v = zt[zc + j]
            s0 += W[w0 + j] * v
            s1 += W[w1 + j] * v
            s2 += W[w2 + j] * v
            s3 += W[w3 + j] * v
          }
          if (this.causal) { // the corner of the triangle: row i + k reads up to token i + k
            const [v1, v2, v3] = [zt[zc + i + 1], zt[zc + i + 2], zt[zc + i + 3]]
            s1 += W[w1 + i + 1] * v1
            s2 += W[w2 + i + 1] * v1
            s2 += W[w2 + i + 2] * v2
            s3 += W[w3 + i + 1] * v1
            s3 += W[w3 + i + 2] * v2
            s3 += W[w3 + i + 3] * v3
          }
          gate[i * h + c] = s0
          gate[(i + 1) * h + c] = s1
          gate[(i + 2) * h + c] = s2
          gate[(i + 3) * h + c] = s3
        }
      }
      for (; i < rows; i++) this.gateRow(i, z2n, rows, gate, i * h)
      return gate
    }

    /** Row i of W as the model uses it on `rows` tokens: W[i, j] for j < rows, 0 above i if causal. */
    row(i, rows) {
      const out = new Float64Array(rows)
      for (let j = 0; j < rows; j++) out[j] = this.causal && j > i ? 0 : this.weight[i * this.seqLen + j]
      return out
    }
  }

  /** Y = X + s(σ(norm(X) U)) V: pre-norm, channel projection, SGU, projection back (model.py). */
  class GMLPBlock {
    constructor(norm, projIn, sgu, projOut) {
      this.norm = norm
      this.proj_in = projIn // U, then σ
      this.sgu = sgu
      this.proj_out = projOut // V
    }

    /** x: (n, d) -> {y: (n, d), gate: (n, h)}. */
    forward(x, rows) {
      const xn = this.norm.forward(x, rows)
      const z = this.proj_in.forward(xn, rows) // (n, d_ffn)
      const { s, gate } = this.sgu.forward(z, rows) // (n, d_ffn/2)
      const y = this.proj_out.forward(s, rows) // (n, d)
      for (let k = 0; k < y.length; k++) y[k] += x[k] // shortcut + y
      return { y, gate }
    }
  }

  /** L identical gMLP blocks and a final norm: (n, d) in, (n, d) out (model.py). */
  class GMLP {
    constructor(blocks, norm) {
      this.blocks = blocks
      this.norm = norm
    }

    forward(x, rows) {
      // no position embeddings: each block's W already knows which token sits where
      const gates = []
      for (const block of this.blocks) {
        const out = block.forward(x, rows)
        x = out.y
        gates.push(out.gate)
      }
      return { x: this.norm.forward(x, rows), gates }
    }
  }

  /** Token embedding -> gMLP (causal SGUs) -> logits over the bytes, one row per token. */
  class GMLPForCausalLM {
    constructor(cfg, embed, gmlp, head) {
      this.cfg = cfg
      this.embed = embed // (V, d)
      this.gmlp = gmlp
      this.head = head // Linear(d, V); its weight is embed's when tie_embeddings
    }

    /** Build from an exported tiny_lm.json (parsed) and the bytes of tiny_lm.bin. */
    static fromExport(meta, buffer) {
      const cfg = meta.config
      if (!cfg.causal || cfg.d_attn != null) throw new Error("the widget runs a causal gMLP without tiny attention")
      const weights = meta.weights
      if (buffer.byteLength !== weights.bytes) {
        throw new Error(`${weights.file}: ${buffer.byteLength} bytes, the JSON says ${weights.bytes}`)
      }
      const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
      const view = new DataView(buffer)
      const tensors = new Map()
      for (const e of weights.tensors) {
        const count = e.shape.reduce((a, b) => a * b, 1)
        if (count * 4 !== e.bytes || e.offset % 4 || e.offset + e.bytes > buffer.byteLength) {
          throw new Error(`${weights.file}: bad entry for ${e.name}`)
        }
        let values
        if (little) {
          values = Float64Array.from(new Float32Array(buffer, e.offset, count))
        } else {
          values = new Float64Array(count)
          for (let k = 0; k < count; k++) values[k] = view.getFloat32(e.offset + 4 * k, true)
        }
        tensors.set(e.name, values)
      }
      for (const [name, source] of Object.entries(weights.tied || {})) tensors.set(name, tensors.get(source))
      const get = (name) => {
        const t = tensors.get(name)
        if (!t) throw new Error(`${weights.file}: no tensor ${name}`)
        return t
      }
      const eps = (name) => (meta.layer_norms && meta.layer_norms[name]) ?? cfg.norm_eps
      const norm = (name) => new LayerNorm(get(`${name}.weight`), get(`${name}.bias`), eps(name))
      const { d_model: d, d_ffn: f, seq_len: n, vocab_size: V } = cfg
      const blocks = []
      for (let i = 0; i < cfg.n_layers; i++) {
        const p = `gmlp.blocks.${i}`
        blocks.push(new GMLPBlock(
          norm(`${p}.norm`),
          new ChannelProjection(new Linear(get(`${p}.proj_in.proj.weight`), get(`${p}.proj_in.proj.bias`), f, d),
            cfg.activation),
          new SpatialGatingUnit(norm(`${p}.sgu.norm`), get(`${p}.sgu.weight`), get(`${p}.sgu.bias`), f, n, true),
          new Linear(get(`${p}.proj_out.weight`), get(`${p}.proj_out.bias`), d, f / 2),
        ))
      }
      const gmlp = new GMLP(blocks, norm("gmlp.norm"))
      const head = new Linear(get("head.weight"), get("head.bias"), V, d)
      const model = new GMLPForCausalLM(cfg, get("embed.weight"), gmlp, head)
      model.meta = meta
      return model
    }

    /** The token ids the model reads: the last seq_len of `tokens`, checked to lie in [0, V). */
    window(tokens) {
      const V = this.cfg.vocab_size
      const ids = Uint16Array.from(tokens)
      for (let k = 0; k < ids.length; k++) {
        if (!(Number.isInteger(Number(tokens[k])) && tokens[k] >= 0 && tokens[k] < V)) {
          throw new RangeError(`GMLPForCausalLM: token ids must be integers in [0, ${V}), got ${tokens[k]}`)
        }
      }
      return ids.subarray(Math.max(0, ids.length - this.cfg.seq_len))
    }

    /** tokens -> {tokens: the window read, logits: (n, V), gates: f(Z2) per block, (n, h)}.
     * lastOnly: the head is applied to the last token only (logits: (1, V)). */
    forward(tokens, { lastOnly = false } = {}) {
      const ids = this.window(tokens)
      const rows = ids.length
      const d = this.cfg.d_model
      if (rows === 0) return { tokens: ids, logits: new Float64Array(0), gates: [] }
      const x = new Float64Array(rows * d)
      for (let r = 0; r < rows; r++) x.set(this.embed.subarray(ids[r] * d, (ids[r] + 1) * d), r * d)
      const out = this.gmlp.forward(x, rows)
      const h = lastOnly ? out.x.subarray((rows - 1) * d) : out.x
      const logits = this.head.forward(h, lastOnly ? 1 : rows) // (n, V)
      return { tokens: ids, logits, gates: out.gates }
    }

    /** Logits as plain arrays: one row of V numbers per token read. */
    logits(tokens) {
      const { logits } = this.forward(tokens)
      const V = this.cfg.vocab_size
      const rows = []
      for (let r = 0; r < logits.length / V; r++) rows.push(Array.from(logits.subarray(r * V, (r + 1) * V)))
      return rows
    }

    /** `count` bytes after the prompt, as the package's generate: each one read from the last
     * seq_len bytes so far, greedy (temperature 0: the most likely byte) or sampled. */
    generate(tokens, count, options = {}) {
      const out = []
      const bytes = this.stream(tokens, options)
      for (let k = 0; k < count; k++) {
        const { value, done } = bytes.next()
        if (done) break
        out.push(value)
      }
      return Uint8Array.from(out)
    }

    /** The bytes after the prompt, one at a time, for as long as they are asked for. While the
     * window still fits in seq_len, a new byte only adds one row to every block (DecodeCache);
     * once it slides, every row of W reads other tokens, so the whole window is run again. */
    *stream(tokens, { temperature = 0, seed = 1 } = {}) {
      const n = this.cfg.seq_len
      const seq = Array.from(this.window(tokens))
      if (seq.length === 0) return
      const random = mulberry32(seed)
      let cache = seq.length < n ? new DecodeCache(this) : null
      let logits
      if (cache) for (const id of seq) logits = cache.append(id)
      for (;;) {
        if (!cache) logits = this.forward(seq.slice(-n), { lastOnly: true }).logits
        const b = temperature > 0 ? sample(logits, temperature, random) : argmax(logits)
        seq.push(b)
        yield b
        if (cache && seq.length <= n) logits = cache.append(b)
        else cache = null
      }
    }
  }

  /** What a causal gMLP keeps to read one more token: norm(Z2) of every token so far, per block.
   * Appending token t gives exactly the last row of forward() on tokens 0..t, in O(t) not O(t^2). */
  class DecodeCache {
    constructor(model) {
      const { d_ffn: f, seq_len: n } = model.cfg
      this.model = model
      this.length = 0
      this.z2 = model.gmlp.blocks.map(() => new Float64Array(n * (f / 2)))
    }

    /** Read token `id` at the next position; returns the logits for the byte after it (V). */
    append(id) {
      const { cfg, embed, gmlp, head } = this.model
      const t = this.length
      const d = cfg.d_model
      if (t >= cfg.seq_len) throw new RangeError(`DecodeCache: the window holds ${cfg.seq_len} tokens`)
      let x = embed.slice(id * d, (id + 1) * d)
      gmlp.blocks.forEach((block, b) => {
        const z = block.proj_in.forward(block.norm.forward(x, 1), 1) // (1, d_ffn)
        const h = z.length / 2
        this.z2[b].set(block.sgu.norm.forward(z.subarray(h), 1), t * h) // norm(Z2) of token t
        const s = new Float64Array(h)
        block.sgu.gateRow(t, this.z2[b], t + 1, s, 0) // f(Z2) of token t
        for (let c = 0; c < h; c++) s[c] *= z[c] // Z1 * f(Z2)
        const y = block.proj_out.forward(s, 1)
        for (let k = 0; k < d; k++) y[k] += x[k]
        x = y
      })
      this.length += 1
      return head.forward(gmlp.norm.forward(x, 1), 1)
    }
  }

  function argmax(values) {
    let best = 0
    for (let k = 1; k < values.length; k++) if (values[k] > values[best]) best = k // first of ties, as torch
    return best
  }

  function softmax(logits, temperature = 1) {
    let max = -Infinity
    for (const v of logits) max = Math.max(max, v / temperature)
    const p = new Float64Array(logits.length)
    let sum = 0
    for (let k = 0; k < p.length; k++) sum += p[k] = Math.exp(logits[k] / temperature - max)
    for (let k = 0; k < p.length; k++) p[k] /= sum
    return p
  }

  function sample(logits, temperature, random) {
    const p = softmax(logits, temperature)
    let u = random()
    for (let k = 0; k < p.length; k++) {
      u -= p[k]
      if (u < 0) return k
    }
    return argmax(p)
  }

  /** A small seeded PRNG (mulberry32): the same seed gives the same sample. */
  function mulberry32(seed) {
    let a = seed >>> 0
    return () => {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }

  // ---- loading -----------------------------------------------------------------------------

  const loaded = new Map() // absolute URL of tiny_lm.json -> Promise<GMLPForCausalLM>
  let lastModel = null

  async function fetchOk(url, what) {
    const response = await fetch(url)
    if (!response.ok) throw new Error(`${what}: HTTP ${response.status} (${url})`)
    return response
  }

  async function sha256Hex(buffer) {
    if (!(window.crypto && crypto.subtle)) return null // plain http on another host: no WebCrypto
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer))
    return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")
  }

  /** The model of an exported tiny_lm.json (URL relative to the page); loaded once per URL. */
  function load(url) {
    const abs = new URL(url, document.baseURI).href
    if (!loaded.has(abs)) {
      const promise = (async () => {
        const meta = await (await fetchOk(abs, "tiny_lm.json")).json()
        if (meta.format !== "gmlp-tiny-lm/1") throw new Error(`unknown format ${meta.format}`)
        const bin = new URL(meta.weights.file, abs)
        bin.search = `v=${String(meta.weights.sha256).slice(0, 16)}` // a new export is a new URL: no stale cache
        const buffer = await (await fetchOk(bin.href, meta.weights.file)).arrayBuffer()
        const digest = await sha256Hex(buffer)
        if (digest && digest !== meta.weights.sha256) throw new Error(`${meta.weights.file}: checksum mismatch`)
        return GMLPForCausalLM.fromExport(meta, buffer)
      })()
      loaded.set(abs, promise)
      promise.catch(() => loaded.delete(abs)) // a failed load is retried next time
    }
    return loaded.get(abs).then((model) => (lastModel = model))
  }

  // ---- the widget ----------------------------------------------------------------------------

  const GENERATE = 40 // bytes written after the prompt, greedy and sampled
  const DEBOUNCE_MS = 150
  const DEFAULT_TEXT = "The for statement is used to iterate over the elements of a "
  const encoder = new TextEncoder()
  const live = new Set() // mounted widgets still on the page
  let counter = 0

  /** How a byte is shown in the token strip. */
  function byteLabel(b) {
    if (b === 0x20) return "␣"
    if (b === 0x0a) return "↵"
    if (b > 0x20 && b < 0x7f) return String.fromCharCode(b)
    return b.toString(16).toUpperCase().padStart(2, "0")
  }

  function describeByte(b) {
    const hex = `0x${b.toString(16).toUpperCase().padStart(2, "0")}`
    if (b > 0x20 && b < 0x7f) return `“${String.fromCharCode(b)}” (${hex})`
    if (b === 0x20) return `dấu cách (${hex})`
    if (b === 0x0a) return `xuống dòng (${hex})`
    if (b >= 0x80) return `byte ${hex} (một phần của ký tự UTF-8 nhiều byte)`
    return `ký tự điều khiển ${hex}`
  }

  /** UTF-8 bytes as readable text: bad sequences, C1 and bidi controls as U+FFFD, C0 controls as
   * their symbols (␀ ␇ ␛ ...); newlines and tabs stay. */
  function showText(bytes) {
    const text = new TextDecoder("utf-8").decode(bytes)
    return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => {
      const code = c.charCodeAt(0)
      return code < 0x20 ? String.fromCharCode(0x2400 + code) : code === 0x7f ? "\u2421" : "\ufffd"
    })
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag)
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v
      else if (k === "text") node.textContent = v
      else node.setAttribute(k, v)
    }
    node.append(...children)
    return node
  }

  function format(x, digits = 3) {
    return x.toFixed(digits).replace("-", "−")
  }

  class Widget {
    constructor(root) {
      this.root = root
      this.id = `gmlp-widget-${++counter}`
      this.model = null
      this.result = null // the last forward: {tokens, logits, gates}
      this.jobs = new Map() // output element -> number of its latest generation
      this.timer = 0
      this.seed = 1
      this.build()
    }

    build() {
      const id = this.id
      const r = this.root
      r.setAttribute("data-gmlp-mounted", "")
      r.replaceChildren()
      this.status = el("p", { class: "gmlp-widget__status", role: "status", "aria-live": "polite",
        text: "Đang tải mô hình…" })
      this.input = el("textarea", { id: `${id}-input`, class: "gmlp-widget__input", rows: "3", spellcheck: "false",
        autocomplete: "off", "aria-describedby": `${id}-window` })
      this.input.value = r.dataset.text || DEFAULT_TEXT
      this.windowNote = el("p", { id: `${id}-window`, class: "gmlp-widget__note" })
      this.greedy = el("output", { class: "gmlp-widget__text", for: `${id}-input`, id: `${id}-greedy` })
      this.temperature = el("input", { id: `${id}-temp`, type: "range", min: "0.1", max: "2", step: "0.1",
        value: "0.8" })
      this.temperatureValue = el("output", { for: `${id}-temp`, class: "gmlp-widget__value" })
      this.resample = el("button", { type: "button", class: "md-button gmlp-widget__button", text: "Lấy mẫu lại" })
      this.sampled = el("output", { class: "gmlp-widget__text", id: `${id}-sampled`, for: `${id}-input ${id}-temp` })
      this.block = el("select", { id: `${id}-block`, class: "gmlp-widget__select" })
      this.token = el("input", { id: `${id}-token`, type: "range", min: "0", max: "0", step: "1", value: "0",
        "aria-describedby": `${id}-token-info` })
      this.tokenValue = el("output", { for: `${id}-token`, class: "gmlp-widget__value" })
      this.strip = el("div", { class: "gmlp-widget__bytes", "aria-hidden": "true" })
      this.tokenInfo = el("p", { id: `${id}-token-info`, class: "gmlp-widget__note" })
      this.rowCanvas = el("canvas", { class: "gmlp-widget__canvas", role: "img", "aria-describedby": `${id}-row-info` })
      this.rowInfo = el("p", { id: `${id}-row-info`, class: "gmlp-widget__note" })
      this.heatCanvas = el("canvas", { class: "gmlp-widget__canvas", role: "img", "aria-describedby": `${id}-heat-info` })
      this.legend = el("div", { class: "gmlp-widget__legend", "aria-hidden": "true" })
      this.heatInfo = el("p", { id: `${id}-heat-info`, class: "gmlp-widget__note" })
      this.probe = el("span", { class: "gmlp-widget__probe", "aria-hidden": "true" })

      const field = (label, control, ...rest) =>
        el("div", { class: "gmlp-widget__field" }, el("label", { for: control.id, text: label }), control, ...rest)
      r.append(
        this.status,
        field("Văn bản cho mô hình đọc (gõ gì cũng được, tiếng Việt cũng được)", this.input, this.windowNote),
        el("div", { class: "gmlp-widget__group", role: "group", "aria-labelledby": `${id}-gen-title` },
          el("p", { class: "gmlp-widget__title", id: `${id}-gen-title`, text: "Mô hình viết tiếp" }),
          el("p", { class: "gmlp-widget__label", text: `Tham lam (luôn chọn byte có xác suất cao nhất), ${GENERATE} byte:` }),
          this.greedy,
          el("div", { class: "gmlp-widget__controls" },
            el("label", { for: `${id}-temp`, text: "Nhiệt độ" }), this.temperature, this.temperatureValue,
            this.resample),
          el("p", { class: "gmlp-widget__label", text: "Lấy mẫu ngẫu nhiên với nhiệt độ trên (cao hơn: liều hơn):" }),
          this.sampled),
        el("div", { class: "gmlp-widget__group", role: "group", "aria-labelledby": `${id}-w-title` },
          el("p", { class: "gmlp-widget__title", id: `${id}-w-title`, text: "Bên trong mô hình" }),
          el("div", { class: "gmlp-widget__controls" },
            el("label", { for: `${id}-block`, text: "Khối" }), this.block,
            el("label", { for: `${id}-token`, text: "Token i" }), this.token, this.tokenValue),
          this.strip, this.tokenInfo,
          el("p", { class: "gmlp-widget__label", text: "Dòng i của W: token i đọc các token j ≤ i với trọng số W[i, j]" }),
          this.rowCanvas, this.rowInfo,
          el("p", { class: "gmlp-widget__label", text: "Cổng f(Z2) = W·norm(Z2) + b: mỗi hàng một token, mỗi cột một kênh" }),
          this.heatCanvas, this.legend, this.heatInfo),
        this.probe,
      )
      this.setControlsEnabled(false)

      this.input.addEventListener("input", () => this.schedule())
      this.temperature.addEventListener("input", () => {
        this.temperatureValue.value = Number(this.temperature.value).toFixed(1)
        this.generateSampled()
      })
      this.resample.addEventListener("click", () => {
        this.seed += 1
        this.generateSampled()
      })
      this.block.addEventListener("change", () => this.draw())
      this.token.addEventListener("input", () => {
        this.followLast = Number(this.token.value) === Number(this.token.max)
        this.draw()
      })
      this.strip.addEventListener("click", (event) => {
        const cell = event.target.closest("[data-i]")
        if (!cell) return
        this.token.value = cell.dataset.i
        this.followLast = Number(this.token.value) === Number(this.token.max)
        this.draw()
      })
      this.temperatureValue.value = Number(this.temperature.value).toFixed(1)
      this.followLast = true
    }

    setControlsEnabled(on) {
      for (const c of [this.input, this.temperature, this.resample, this.block, this.token]) c.disabled = !on
    }

    async start() {
      const url = this.root.dataset.weights
      try {
        if (!url) throw new Error("thiếu thuộc tính data-weights")
        this.model = await load(url)
      } catch (error) {
        this.status.textContent = `Không tải được mô hình: ${error.message}`
        console.warn("gmlp-widget:", error)
        return
      }
      if (!this.root.isConnected) return
      const { cfg, meta } = this.model
      const t = meta.training
      const trained = t ? `huấn luyện ${t.steps} bước trên tài liệu Python (tiếng Anh), loss ` +
        `${t.final_eval_loss} nats/byte trên phần văn bản để riêng` : "chưa huấn luyện"
      this.status.textContent = `gMLP ${cfg.n_layers} khối, d_model = ${cfg.d_model}, n = ${cfg.seq_len}, ` +
        `${(meta.params / 1000).toFixed(0)}k tham số, ${trained}. Mọi phép tính chạy ngay trong trình duyệt của bạn.`
      this.block.replaceChildren(...Array.from({ length: cfg.n_layers }, (_, i) =>
        el("option", { value: String(i), text: `khối ${i + 1}` })))
      this.block.value = "0"
      this.setControlsEnabled(true)
      this.update()
    }

    schedule() {
      clearTimeout(this.timer)
      this.timer = setTimeout(() => this.update(), DEBOUNCE_MS)
    }

    /** Read the text, run the model once, redraw, then write the continuations. */
    update() {
      if (!this.model || !this.alive()) return
      const n = this.model.cfg.seq_len
      const bytes = encoder.encode(this.input.value) // any text: lone surrogates become U+FFFD
      this.bytes = bytes
      const tokens = bytes.subarray(Math.max(0, bytes.length - n))
      if (bytes.length === 0) {
        this.windowNote.textContent = `Ô trống: gõ vài chữ để mô hình đọc (nó đọc tối đa n = ${n} byte).`
      } else if (bytes.length > n) {
        this.windowNote.textContent = `${bytes.length} byte, dài hơn n = ${n}: mô hình chỉ đọc ${n} byte cuối ` +
          `(W là ma trận ${n} × ${n}, nên gMLP có số token cố định).`
      } else {
        this.windowNote.textContent = `${bytes.length} byte (tối đa n = ${n}; một chữ có dấu tiếng Việt là 2–3 byte).`
      }
      this.result = this.model.forward(tokens)
      const T = tokens.length
      this.token.max = String(Math.max(0, T - 1))
      if (this.followLast || Number(this.token.value) > T - 1) this.token.value = String(Math.max(0, T - 1))
      this.token.disabled = T === 0
      this.strip.replaceChildren(...Array.from(tokens, (b, i) =>
        el("span", { class: "gmlp-widget__byte", "data-i": String(i), title: describeByte(b), text: byteLabel(b) })))
      this.draw()
      this.generateGreedy()
      this.generateSampled()
    }

    alive() {
      if (this.root.isConnected) return true
      this.destroy()
      return false
    }

    destroy() {
      clearTimeout(this.timer)
      live.delete(this)
    }

    /** Write `GENERATE` bytes into `target`, a few at a time; a newer job for `target` stops this one. */
    async write(target, options) {
      const job = (this.jobs.get(target) || 0) + 1
      this.jobs.set(target, job)
      const prompt = Array.from(this.bytes.subarray(Math.max(0, this.bytes.length - this.model.cfg.seq_len)))
      if (prompt.length === 0) {
        target.replaceChildren(el("span", { class: "gmlp-widget__placeholder", text: "(chưa có gì để viết tiếp)" }))
        target.setAttribute("aria-busy", "false")
        return
      }
      target.setAttribute("aria-busy", "true")
      const out = []
      const shown = el("span", { class: "gmlp-widget__new" })
      const tail = Array.from(showText(Uint8Array.from(prompt))) // code points: never half an emoji
      const head = tail.length > 16 ? `…${tail.slice(-16).join("")}` : tail.join("")
      target.replaceChildren(el("span", { class: "gmlp-widget__prompt", text: head }), shown)
      const bytes = this.model.stream(prompt, options)
      let since = -Infinity
      for (let k = 0; k < GENERATE; k++) {
        if (performance.now() - since > 30) { // let the page breathe (typing, scrolling) every 30 ms
          await new Promise((resolve) => setTimeout(resolve, 0))
          if (job !== this.jobs.get(target) || !this.alive()) return
          since = performance.now()
        }
        out.push(bytes.next().value)
        shown.textContent = showText(Uint8Array.from(out))
      }
      target.setAttribute("aria-busy", "false")
    }

    generateGreedy() {
      this.write(this.greedy, { temperature: 0, seed: 1 })
    }

    generateSampled() {
      if (!this.model || !this.bytes) return
      this.write(this.sampled, { temperature: Number(this.temperature.value), seed: this.seed })
    }

    colors() {
      const read = (value) => {
        this.probe.style.color = value
        const m = getComputedStyle(this.probe).color.match(/[\d.]+/g) || ["128", "128", "128"]
        return m.slice(0, 3).map(Number)
      }
      return {
        fg: read("var(--md-default-fg-color, #333)"),
        light: read("var(--md-default-fg-color--light, #888)"),
        bg: read("var(--md-default-bg-color, #fff)"),
        pos: read("var(--gmlp-pos, #e0504d)"),
        neg: read("var(--gmlp-neg, #4c8ce4)"),
        accent: read("var(--md-accent-fg-color, #526cfe)"),
      }
    }

    /** Redraw the token strip highlight, the W row and the gate heatmap (no model run). */
    draw() {
      if (!this.result || !this.alive()) return
      const { tokens, gates } = this.result
      const T = tokens.length
      const b = Number(this.block.value) || 0
      const i = Math.min(Number(this.token.value) || 0, Math.max(0, T - 1))
      this.tokenValue.value = T ? String(i) : "–"
      this.token.setAttribute("aria-valuetext", T ? `token ${i}: ${describeByte(tokens[i])}` : "không có token")
      for (const cell of this.strip.children) cell.classList.toggle("is-selected", Number(cell.dataset.i) === i)
      const colors = this.colors()
      if (T === 0) {
        this.tokenInfo.textContent = "Chưa có token nào."
        this.rowInfo.textContent = ""
        this.heatInfo.textContent = ""
        this.legend.replaceChildren()
        for (const c of [this.rowCanvas, this.heatCanvas]) this.clearCanvas(c)
        return
      }
      // what the model predicts after token i
      const V = this.model.cfg.vocab_size
      const p = softmax(this.result.logits.subarray(i * V, (i + 1) * V))
      const top = Array.from(p.keys()).sort((a, c) => p[c] - p[a]).slice(0, 3)
      this.tokenInfo.textContent = `Token ${i} là ${describeByte(tokens[i])}. Byte tiếp theo, mô hình đoán: ` +
        top.map((k) => `${describeByte(k)} ${(100 * p[k]).toFixed(0)}%`).join(", ") + "."
      const sgu = this.model.gmlp.blocks[b].sgu
      this.drawRow(sgu.row(i, T), i, tokens, colors, b)
      this.drawHeat(gates[b], T, sgu.dFfn / 2, i, colors, b)
    }

    clearCanvas(canvas) {
      const ctx = canvas.getContext("2d")
      ctx && ctx.clearRect(0, 0, canvas.width, canvas.height)
    }

    sizeCanvas(canvas, height) {
      const width = Math.max(120, canvas.parentElement.clientWidth || 300)
      const dpr = window.devicePixelRatio || 1
      canvas.width = Math.round(width * dpr)
      canvas.height = Math.round(height * dpr)
      canvas.style.height = `${height}px`
      const ctx = canvas.getContext("2d")
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
      return { ctx, width, height }
    }

    drawRow(row, i, tokens, colors, b) {
      const { ctx, width, height } = this.sizeCanvas(this.rowCanvas, 150)
      const rgb = (c) => `rgb(${c.join(",")})`
      const left = 8, right = 8, top = 10, bottom = 26
      const plotW = width - left - right, plotH = height - top - bottom
      let limit = 1e-9
      for (let j = 0; j <= i; j++) limit = Math.max(limit, Math.abs(row[j]))
      const slots = i + 1
      const slot = plotW / Math.max(slots, 16)
      const x0 = left + plotW - slot * slots
      const zero = top + plotH / 2
      ctx.strokeStyle = rgb(colors.light)
      ctx.lineWidth = 1
      ctx.beginPath()
      ctx.moveTo(left, zero + 0.5)
      ctx.lineTo(left + plotW, zero + 0.5)
      ctx.stroke()
      for (let j = 0; j <= i; j++) {
        const v = row[j]
        const hgt = (v / limit) * (plotH / 2)
        ctx.fillStyle = rgb(v >= 0 ? colors.pos : colors.neg)
        ctx.fillRect(x0 + j * slot + slot * 0.1, v >= 0 ? zero - hgt : zero, Math.max(1, slot * 0.8), Math.abs(hgt))
      }
      ctx.fillStyle = rgb(colors.fg)
      ctx.font = `12px ${getComputedStyle(this.root).fontFamily || "sans-serif"}`
      ctx.textBaseline = "top"
      ctx.textAlign = "right"
      ctx.fillText("j − i = 0", left + plotW, top + plotH + 8)
      ctx.textAlign = "left"
      ctx.fillText(i > 0 ? `j − i = −${i}` : "", x0, top + plotH + 8)
      ctx.fillText(`±${format(limit, 2)}`, left, 0)
      // a text version for screen readers and for reading numbers
      const order = Array.from({ length: i + 1 }, (_, j) => j).sort((a, c) => Math.abs(row[c]) - Math.abs(row[a]))
      const strongest = order.slice(0, 3).map((j) =>
        `j − i = ${format(j - i, 0)} (${describeByte(tokens[j])}, W = ${format(row[j])})`)
      let near = 0, total = 0
      for (let j = 0; j <= i; j++) {
        total += Math.abs(row[j])
        if (i - j < 4) near += Math.abs(row[j])
      }
      const share = total > 0 ? ` ${(100 * near / total).toFixed(0)}% của |W| nằm ở 4 token gần nhất.` : ""
      this.rowCanvas.setAttribute("aria-label", `Biểu đồ cột W[${i}, j] của khối ${b + 1}`)
      this.rowInfo.textContent = `Khối ${b + 1}, token ${i} đọc mạnh nhất từ: ${strongest.join("; ")}.${share} ` +
        "Dòng này không phụ thuộc vào văn bản: W là trọng số, còn thứ được trộn là Z2 của từng token."
    }

    drawHeat(gate, T, h, i, colors, b) {
      const cell = Math.max(3, Math.min(8, Math.floor(260 / Math.max(T, 1))))
      const { ctx, width, height } = this.sizeCanvas(this.heatCanvas, cell * T)
      let sum = 0, lo = Infinity, hi = -Infinity
      const dev = new Float64Array(gate.length)
      for (let k = 0; k < gate.length; k++) {
        sum += gate[k]
        lo = Math.min(lo, gate[k])
        hi = Math.max(hi, gate[k])
        dev[k] = Math.abs(gate[k] - 1)
      }
      const sorted = Float64Array.from(dev).sort()
      const limit = Math.max(1e-6, sorted[Math.floor(0.99 * (sorted.length - 1))]) // 99th percentile of |f - 1|
      const mix = (t) => {
        const end = t >= 0 ? colors.pos : colors.neg
        const a = Math.min(1, Math.abs(t))
        return colors.bg.map((c, k) => Math.round(c + (end[k] - c) * a))
      }
      const image = ctx.createImageData(h, T)
      for (let r = 0; r < T; r++) {
        for (let c = 0; c < h; c++) {
          const [R, G, B] = mix((gate[r * h + c] - 1) / limit)
          const o = 4 * (r * h + c)
          image.data[o] = R
          image.data[o + 1] = G
          image.data[o + 2] = B
          image.data[o + 3] = 255
        }
      }
      const off = document.createElement("canvas")
      off.width = h
      off.height = T
      off.getContext("2d").putImageData(image, 0, 0)
      ctx.imageSmoothingEnabled = false
      ctx.drawImage(off, 0, 0, width, height)
      ctx.strokeStyle = `rgb(${colors.fg.join(",")})`
      ctx.lineWidth = 1.5
      ctx.strokeRect(0.75, i * cell + 0.75, width - 1.5, cell - 1.5)
      const rgb = (c) => `rgb(${c.join(",")})`
      this.legend.replaceChildren(
        el("span", { text: format(1 - limit, 2) }),
        el("span", { class: "gmlp-widget__ramp", style: `background: linear-gradient(to right, ${rgb(colors.neg)}, ` +
          `${rgb(colors.bg)}, ${rgb(colors.pos)})` }),
        el("span", { text: format(1 + limit, 2) }))
      let rowMean = 0
      for (let c = 0; c < h; c++) rowMean += gate[i * h + c]
      rowMean /= h
      this.heatCanvas.setAttribute("aria-label", `Bản đồ nhiệt của cổng f(Z2), khối ${b + 1}: ${T} token × ${h} kênh`)
      this.heatInfo.textContent = `Khối ${b + 1}: ${T} hàng (token) × ${h} cột (kênh). f(Z2) từ ${format(lo, 2)} ` +
        `đến ${format(hi, 2)}, trung bình ${format(sum / gate.length, 2)}; hàng của token ${i} (có viền): trung bình ` +
        `${format(rowMean, 2)}. Màu nền là 1 (cổng để Z1 đi qua nguyên vẹn), đỏ là > 1, xanh là < 1.`
    }
  }

  function mount(root) {
    if (root.hasAttribute("data-gmlp-mounted")) return null
    const widget = new Widget(root)
    live.add(widget)
    widget.start()
    return widget
  }

  function mountAll(scope = document) {
    for (const w of [...live]) w.alive() // forget the widgets of the previous page
    return Array.from(scope.querySelectorAll(".gmlp-widget:not([data-gmlp-mounted])"), mount)
  }

  // redraw on a width change or when the reader flips light/dark (Material sets an attribute)
  let redraw = 0
  const redrawAll = () => {
    cancelAnimationFrame(redraw)
    redraw = requestAnimationFrame(() => {
      for (const w of [...live]) w.draw()
    })
  }
  window.addEventListener("resize", redrawAll)
  new MutationObserver(redrawAll).observe(document.documentElement, {
    attributes: true, subtree: true, attributeFilter: ["data-md-color-scheme"],
  })

  window.gmlpWidget = {
    load,
    logits: (tokens, model = lastModel) => {
      if (!model) throw new Error("gmlpWidget.logits: load(url) a model first")
      return model.logits(tokens)
    },
    encode: (text) => encoder.encode(text),
    mount,
    mountAll,
    erf,
    erfSeries,
    gelu,
    LayerNorm,
    Linear,
    ChannelProjection,
    SpatialGatingUnit,
    GMLPBlock,
    GMLP,
    GMLPForCausalLM,
    DecodeCache,
  }

  // Material's document$ emits on the first load and after every instant navigation
  if (typeof window.document$ !== "undefined" && window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(() => mountAll(document))
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => mountAll(document))
  } else {
    mountAll(document)
  }
})()
