// The post's Spatial Gating Unit, alone: a fixed Z of 8 tokens x 8 channels, a W the reader
// picks, the gate on or off, and every step as a small table (tokens x channels).
//
// The computation is gmlp_snippets.SpatialGatingUnit (sgu.py, causal=False): Z1, Z2 = the
// two channel halves of Z; norm(Z2) = LayerNorm over channels (weight 1, bias 0, eps 1e-5,
// biased variance); f(Z2) = W norm(Z2) + b, b one number per token; s(Z) = Z1 ⊙ f(Z2).
// Gate off: s(Z) = Z1, i.e. f = 1 everywhere, as at initialisation (W ≈ 0, b = 1).
// tests/test_sgu_explorable.py checks compute() against the package.
//
// On the page: <div class="sgu-explorable"></div>, mounted on every page Material shows
// (document$, instant navigation included), or on DOMContentLoaded without Material.
// From the console or a test (window.sguExplorable): compute(z, w, b, gate), Z, W, mountAll.
;(() => {
  "use strict"

  const N = 8 // tokens
  const D_FFN = 8 // channels of Z; Z1 and Z2 have D_FFN / 2 each
  const EPS = 1e-5

  /** A small seeded PRNG (mulberry32), for the fixed Z and the random W. */
  function mulberry32(seed) {
    let a = seed >>> 0
    return () => {
      a = (a + 0x6d2b79f5) >>> 0
      let t = Math.imul(a ^ (a >>> 15), a | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }

  /** rows x cols numbers from value(i, j), as nested arrays. */
  const matrix = (rows, cols, value) =>
    Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => value(i, j)))

  const uniform = (seed, scale) => {
    const random = mulberry32(seed)
    return () => Math.round((2 * random() - 1) * scale * 100) / 100 // two decimals
  }

  /** The fixed Z: U(-1, 1), two decimals, seed 2. */
  const Z = matrix(N, D_FFN, uniform(2, 1))

  /** The W the reader picks: row i says how token i reads the tokens j. */
  const W = {
    identity: matrix(N, N, (i, j) => (i === j ? 1 : 0)),
    shift: matrix(N, N, (i, j) => (j === i - 1 ? 1 : 0)),
    // mean of tokens i-1, i, i+1 (of the two at either end)
    average: matrix(N, N, (i, j) => (Math.abs(i - j) <= 1 ? 1 / (i === 0 || i === N - 1 ? 2 : 3) : 0)),
    random: matrix(N, N, uniform(7, 0.5)), // U(-0.5, 0.5), two decimals, seed 7
  }

  /** LayerNorm over the channels of each row: weight 1, bias 0, eps 1e-5, biased variance. */
  function layerNorm(row) {
    const mean = row.reduce((a, v) => a + v, 0) / row.length
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length
    return row.map((v) => (v - mean) / Math.sqrt(variance + EPS))
  }

  /** The SGU on z (n x d_ffn) with w (n x n) and b (a number or n numbers): {z1, z2n, f, s}.
   * gate false: f = 1 and s = z1. */
  function compute(z, w, b, gate = true) {
    const n = z.length
    const h = n ? z[0].length / 2 : 0
    const bias = typeof b === "number" ? Array(n).fill(b) : b
    const bad = (what, expected, got) => {
      throw new Error(`sguExplorable.compute: expected ${what} ${expected}, got ${got}`)
    }
    if (!n || !Number.isInteger(h) || !h || z.some((row) => row.length !== 2 * h)) {
      bad("z", "n rows of the same even number of channels", JSON.stringify(z.map((r) => r.length)))
    }
    if (w.length !== n || w.some((row) => row.length !== n)) bad("w", `of shape (${n}, ${n})`, JSON.stringify(w))
    if (!Array.isArray(bias) || bias.length !== n) bad("b", `a number or ${n} numbers`, JSON.stringify(b))
    const z1 = z.map((row) => row.slice(0, h))
    const z2n = z.map((row) => layerNorm(row.slice(h)))
    const f = gate
      ? matrix(n, h, (i, c) => z2n.reduce((a, row, j) => a + w[i][j] * row[c], bias[i]))
      : matrix(n, h, () => 1)
    const s = matrix(n, h, (i, c) => z1[i][c] * f[i][c])
    return { z1, z2n, f, s }
  }

  // ---- the page -------------------------------------------------------------------------------

  const CHOICES = [
    ["identity", "W = I: mỗi token đọc chính nó",
      "Mỗi token chỉ đọc chính nó: f(Z₂) = norm(Z₂) + 1, chưa trộn token nào với token nào."],
    ["shift", "Dịch 1: token i đọc token i − 1",
      "Hàng i của f(Z₂) là hàng i − 1 của norm(Z₂) cộng 1: thông tin trôi xuống một token. " +
      "Token 0 không có ai đứng trước nên f = b = 1, s(Z) = Z₁."],
    ["average", "Trung bình token i − 1, i, i + 1",
      "Mỗi token lấy trung bình norm(Z₂) của chính nó và hai token kề bên (token đầu và cuối " +
      "chỉ có một token kề: trung bình 2). Không causal nên token i nhìn cả token i + 1."],
    ["random", "Ngẫu nhiên (seed cố định)",
      "W ngẫu nhiên trong [−0.5, 0.5]: token nào cũng trộn tất cả các token, kể cả các token phía sau."],
  ]
  let counter = 0

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

  /** A value as a cell shows it: two decimals, a true minus sign, 0 for what rounds to 0. */
  const show = (v, digits = 2) => (Math.abs(v) < 0.005 ? "0" : v.toFixed(digits).replace("-", "−"))

  /** An empty rows x cols table; update() fills it. Row headers: the token; columns: channels. */
  function table(caption, rows, cols, columnName, extra = "") {
    const body = el("tbody")
    const cells = matrix(rows, cols, () => el("td"))
    cells.forEach((row, i) => body.append(el("tr", {}, el("th", { scope: "row", text: String(i) }), ...row)))
    const head = el("tr", {}, el("th", { scope: "col", "aria-label": "token", text: "" }))
    for (let j = 0; j < cols; j++) head.append(el("th", { scope: "col", text: `${columnName}${j}` }))
    const node = el("table", { class: `sgu-explorable__grid ${extra}`.trim() },
      el("caption", { text: caption }), el("thead", {}, head), body)
    return { node, cells }
  }

  /** Writes values into a table: the number, a title with more digits, a colour by sign. */
  function fill(grid, values, scale, what) {
    values.forEach((row, i) => row.forEach((v, j) => {
      const cell = grid.cells[i][j]
      cell.textContent = show(v)
      cell.title = `${what}[${i}, ${j}] = ${show(v, 4)}`
      cell.className = v > 0 ? "is-pos" : v < 0 ? "is-neg" : ""
      cell.style.setProperty("--sgu-a", Math.min(1, Math.abs(v) / scale).toFixed(3))
    }))
  }

  function mount(root) {
    const id = `sgu-explorable-${++counter}`
    root.setAttribute("data-sgu-mounted", "")
    const radios = CHOICES.map(([value, label], k) => {
      const input = el("input", { type: "radio", name: `${id}-w`, id: `${id}-${value}`, value })
      input.checked = k === 0
      return el("label", { class: "sgu-explorable__choice", for: input.id }, input, ` ${label}`)
    })
    const gate = el("input", { type: "checkbox", id: `${id}-gate` })
    gate.checked = true
    const note = el("p", { class: "sgu-explorable__note", role: "status", "aria-live": "polite" })
    const grids = {
      w: table("W (hàng i: token i đọc token j)", N, N, "j"),
      z2n: table("norm(Z₂)", N, D_FFN / 2, "c"),
      f: table("", N, D_FFN / 2, "c", "sgu-explorable__f"), // captions: by the gate
      f2: table("", N, D_FFN / 2, "c", "sgu-explorable__f"), // f again, in the second row
      z1: table("Z₁", N, D_FFN / 2, "c"),
      s: table("s(Z) = Z₁ ⊙ f(Z₂)", N, D_FFN / 2, "c"),
    }
    // an operator and the table after it stay together when a row wraps
    const term = (text, grid) => el("div", { class: "sgu-explorable__term" },
      el("span", { class: "sgu-explorable__op", "aria-hidden": "true", text }), grid.node)
    root.replaceChildren(
      el("p", { class: "sgu-explorable__title", text: "Tự tay vặn Spatial Gating Unit" }),
      el("p", { class: "sgu-explorable__note", text:
        `Một chuỗi ${N} token, Z có ${D_FFN} kênh (cố định, mình sinh sẵn), chia đôi thành Z₁ và Z₂, ` +
        "mỗi nửa 4 kênh; b = 1 cho mọi token, như package. Mỗi hàng là một token, mỗi cột một kênh; " +
        "đỏ là dương, xanh là âm, rê chuột vào ô để xem số đầy đủ." }),
      el("fieldset", { class: "sgu-explorable__controls" }, el("legend", { text: "Chọn W" }), ...radios),
      el("div", { class: "sgu-explorable__controls" },
        el("label", { class: "sgu-explorable__choice", for: gate.id }, gate, " Bật cổng"),
        el("span", { class: "sgu-explorable__note", text:
          "Bật: s(Z) = Z₁ ⊙ (W·norm(Z₂) + b). Tắt: s(Z) = Z₁, coi như f = 1 ở mọi ô, giống lúc " +
          "khởi tạo (W ≈ 0, b = 1)." })),
      note,
      el("div", { class: "sgu-explorable__row" },
        grids.w.node, term("·", grids.z2n), term("+ 1 =", grids.f)),
      el("div", { class: "sgu-explorable__row" },
        grids.z1.node, term("⊙", grids.f2), term("=", grids.s)),
    )
    const update = () => {
      const choice = root.querySelector(`input[name="${id}-w"]:checked`).value
      const w = W[choice]
      const out = compute(Z, w, 1, gate.checked)
      fill(grids.w, w, 1, "W")
      fill(grids.z2n, out.z2n, 2, "norm(Z₂)")
      fill(grids.f, out.f, 2, "f(Z₂)")
      fill(grids.f2, out.f, 2, "f(Z₂)")
      fill(grids.z1, out.z1, 2, "Z₁")
      fill(grids.s, out.s, 2, "s(Z)")
      root.classList.toggle("is-gate-off", !gate.checked)
      grids.f.node.caption.textContent = gate.checked ? "f(Z₂) = W·norm(Z₂) + b" : "f = 1 (cổng tắt)"
      grids.f2.node.caption.textContent = gate.checked ? "f(Z₂)" : "f = 1 (cổng tắt)"
      note.textContent = gate.checked
        ? CHOICES.find(([value]) => value === choice)[2]
        : "Cổng đang tắt: f = 1 ở mọi ô nên s(Z) = Z₁, W chọn gì cũng vậy."
    }
    root.addEventListener("change", update)
    update()
  }

  function mountAll(scope = document) {
    for (const root of scope.querySelectorAll(".sgu-explorable:not([data-sgu-mounted])")) mount(root)
  }

  window.sguExplorable = { compute, Z, W, mountAll }

  // Material's document$ emits on the first load and after every instant navigation
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(() => mountAll(document))
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => mountAll(document))
  } else {
    mountAll(document)
  }
})()
