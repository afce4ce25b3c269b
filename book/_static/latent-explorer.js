/* The latent-space explorer: a trained decoder, run in the page.
 *
 * Each `div.latent-explorer` holds its data as inline JSON (format "latent-explorer",
 * version 2, written by snippets.chapters.latent.explorer_payload): two exported dense
 * decoders (format "dense-decoder", version 2, snippets/export.py), a VAE and a CVAE
 * with a one-hot digit as condition, and the posterior means of held-out digits
 * (base64 little-endian int16, round(scale * z)).
 * Inline data and a classic script (not an ES module) work from file:// too.
 *
 * Each kernel arrives as n-bit unsigned integers q, packed least significant bit first
 * from each byte's lowest bit up, with a float32 low and step per column: the weight is
 * low + step * q. The decoder is then evaluated as exported_decoder_logits does in
 * NumPy: h <- f(h W + b), layer by layer, in double precision; the image is the
 * Bernoulli mean sigmoid(logits). Each element gets `element.latentExplorer`, a small
 * API: setPoint(z1, z2), point(), setDigit(k | null), intensities() (Float32Array of
 * 784 means), model().
 */
(function () {
  "use strict";

  var COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var ACTIVATIONS = {
    relu: function (a) { return a > 0 ? a : 0; },
    sigmoid: function (a) { return 1 / (1 + Math.exp(-a)); },
    linear: function (a) { return a; }
  };
  var SIDE = 28, PANEL = 320, ZOOM = 8, STEP = 0.1;

  function bytesOf(text) {
    var raw = atob(text), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function readFloat32(text) {
    var bytes = bytesOf(text), view = new DataView(bytes.buffer);
    var out = new Float64Array(bytes.length / 4);
    for (var j = 0; j < out.length; j++) out[j] = view.getFloat32(4 * j, true);
    return out;
  }

  /* The first `count` integers of `bits` bits each, as snippets.export.pack_unsigned writes them. */
  function readUnsigned(text, count, bits) {
    var bytes = bytesOf(text), out = new Uint32Array(count), position = 0;
    for (var k = 0; k < count; k++) {
      var value = 0;
      for (var b = 0; b < bits; b++, position++) {
        value += ((bytes[position >> 3] >> (position & 7)) & 1) << b;
      }
      out[k] = value;
    }
    return out;
  }

  /* The kernel (inputDim x units, row-major): low[j] + step[j] * q for column j. */
  function readKernel(layer, bits) {
    var low = readFloat32(layer.low), step = readFloat32(layer.step);
    var q = readUnsigned(layer.kernel, layer.input_dim * layer.units, bits);
    var kernel = new Float64Array(q.length);
    for (var i = 0; i < q.length; i++) {
      var column = i % layer.units;
      kernel[i] = low[column] + step[column] * q[i];
    }
    return kernel;
  }

  function loadDecoder(spec) {
    if (spec.format !== "dense-decoder" || spec.version !== 2) {
      throw new Error("latent explorer: unsupported decoder format " + spec.format + " v" + spec.version);
    }
    return {
      latentDim: spec.latent_dim,
      conditionDim: spec.condition_dim,
      layers: spec.layers.map(function (layer) {
        return {
          inputDim: layer.input_dim, units: layer.units, activation: ACTIVATIONS[layer.activation],
          kernel: readKernel(layer, spec.bits), bias: readFloat32(layer.bias)
        };
      })
    };
  }

  /* The decoder's outputs at code z (array) with condition (array or null). */
  function decode(decoder, z, condition) {
    var h = Array.prototype.slice.call(z).concat(condition || []);
    decoder.layers.forEach(function (layer) {
      var next = new Float64Array(layer.units);
      for (var j = 0; j < layer.units; j++) next[j] = layer.bias[j];
      for (var i = 0; i < layer.inputDim; i++) {
        var hi = h[i];
        if (hi === 0) continue;
        var row = i * layer.units;
        for (var k = 0; k < layer.units; k++) next[k] += hi * layer.kernel[row + k];
      }
      for (var m = 0; m < layer.units; m++) next[m] = layer.activation(next[m]);
      h = next;
    });
    return h;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function Explorer(root, data) {
    this.root = root;
    this.extent = data.extent;
    this.models = {};
    for (var name in data.models) {
      var entry = data.models[name], codes = [], bytes = bytesOf(entry.codes);
      var view = new DataView(bytes.buffer);
      for (var i = 0; i < entry.labels.length; i++) {
        codes.push([view.getInt16(4 * i, true) / data.scale, view.getInt16(4 * i + 2, true) / data.scale,
                    +entry.labels[i]]);
      }
      this.models[name] = { decoder: loadDecoder(entry.decoder), codes: codes };
    }
    this.z = [0, 0];
    this.digit = null;
    this.build();
    this.update();
  }

  Explorer.prototype.build = function () {
    var self = this, dpr = window.devicePixelRatio || 1;
    var panels = element("div", "latent-explorer-panels");
    this.panel = element("canvas", "latent-explorer-latent");
    this.panel.width = this.panel.height = Math.round(PANEL * dpr);
    this.panel.style.width = this.panel.style.height = PANEL + "px";
    this.panel.tabIndex = 0;
    this.panel.setAttribute("role", "application");
    this.panel.setAttribute("aria-label",
      "Latent space: arrow keys move the code, the decoded digit is shown beside it");
    this.image = element("canvas", "latent-explorer-image");
    this.image.width = this.image.height = SIDE * ZOOM;
    this.image.setAttribute("aria-label", "The decoded digit");
    panels.appendChild(this.panel);
    panels.appendChild(this.image);

    this.status = element("p", "latent-explorer-status");
    this.status.setAttribute("aria-live", "polite");
    var axes = element("p", "latent-explorer-axes",
      "Horizontal axis z\u2081, vertical axis z\u2082, from \u2212" + this.extent + " to " + this.extent +
      ": the two coordinates of the latent code. Dots: the posterior means \u03bc(x) of held-out " +
      "digits, coloured by label; rings: 1, 2 and 3 standard deviations of the prior N(0, I). " +
      "Point, drag or touch to decode a code; arrow keys move it (Shift: larger steps).");

    var buttons = element("div", "latent-explorer-buttons");
    buttons.setAttribute("role", "group");
    buttons.setAttribute("aria-label", "Decoder");
    this.buttons = [];
    var vaeButton = element("button", "latent-explorer-vae", "VAE");
    vaeButton.type = "button";
    vaeButton.title = "The VAE's decoder p(x | z)";
    vaeButton.addEventListener("click", function () { self.setDigit(null); });
    buttons.appendChild(vaeButton);
    this.buttons.push(vaeButton);
    for (var k = 0; k < 10; k++) {
      var button = element("button", "latent-explorer-digit", String(k));
      button.type = "button";
      button.title = "The CVAE's decoder p(x | z, y = " + k + ")";
      button.style.borderColor = COLOURS[k];
      button.dataset.digit = k;
      button.addEventListener("click", (function (digit) {
        return function () { self.setDigit(digit); };
      })(k));
      buttons.appendChild(button);
      this.buttons.push(button);
    }
    this.root.appendChild(buttons);
    this.root.appendChild(panels);
    this.root.appendChild(this.status);
    this.root.appendChild(axes);

    function pointTo(event) {
      var box = self.panel.getBoundingClientRect();
      var u = (event.clientX - box.left) / box.width, v = (event.clientY - box.top) / box.height;
      self.setPoint((2 * u - 1) * self.extent, (1 - 2 * v) * self.extent);
    }
    this.panel.addEventListener("pointerdown", function (event) {
      self.panel.setPointerCapture(event.pointerId);
      self.panel.focus();
      pointTo(event);
    });
    this.panel.addEventListener("pointermove", function (event) {
      if (event.buttons || event.pointerType === "mouse") pointTo(event);
    });
    this.panel.addEventListener("keydown", function (event) {
      var step = event.shiftKey ? 5 * STEP : STEP;
      var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      var move = moves[event.key];
      if (!move) return;
      event.preventDefault();
      self.setPoint(self.z[0] + move[0], self.z[1] + move[1]);
    });
  };

  Explorer.prototype.model = function () { return this.digit === null ? "vae" : "cvae"; };

  Explorer.prototype.setPoint = function (z1, z2) {
    var e = this.extent;
    this.z = [Math.max(-e, Math.min(e, z1)), Math.max(-e, Math.min(e, z2))];
    this.update();
  };

  Explorer.prototype.setDigit = function (digit) {
    this.digit = digit === null || digit === undefined ? null : digit;
    this.update();
  };

  Explorer.prototype.update = function () {
    var decoder = this.models[this.model()].decoder, condition = null;
    if (decoder.conditionDim) {
      condition = new Array(decoder.conditionDim).fill(0);
      condition[this.digit] = 1;
    }
    var logits = decode(decoder, this.z, condition);
    this.means = new Float32Array(logits.length);
    for (var i = 0; i < logits.length; i++) this.means[i] = 1 / (1 + Math.exp(-logits[i]));
    this.drawPanel();
    this.drawImage();
    var self = this;
    this.buttons.forEach(function (button) {
      var digit = button.dataset.digit === undefined ? null : +button.dataset.digit;
      button.setAttribute("aria-pressed", String(digit === self.digit));
    });
    this.root.dataset.z1 = this.z[0];
    this.root.dataset.z2 = this.z[1];
    this.root.dataset.model = this.model();
    this.status.textContent = "z = (" + this.z[0].toFixed(2) + ", " + this.z[1].toFixed(2) + "), " +
      (this.digit === null ? "VAE decoder" : "CVAE decoder with label " + this.digit) +
      "; distance from the origin " + Math.hypot(this.z[0], this.z[1]).toFixed(2) + " prior standard deviations";
  };

  Explorer.prototype.toPixels = function (z1, z2) {
    var size = this.panel.width, e = this.extent;
    return [(z1 / e + 1) / 2 * size, (1 - z2 / e) / 2 * size];
  };

  Explorer.prototype.drawPanel = function () {
    var context = this.panel.getContext("2d"), size = this.panel.width, unit = size / (2 * this.extent);
    var dpr = size / PANEL;
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, size, size);
    context.strokeStyle = "#cccccc";
    context.lineWidth = dpr;
    context.beginPath();
    context.moveTo(size / 2, 0); context.lineTo(size / 2, size);
    context.moveTo(0, size / 2); context.lineTo(size, size / 2);
    context.stroke();
    for (var r = 1; r <= 3; r++) {
      context.beginPath();
      context.arc(size / 2, size / 2, r * unit, 0, 2 * Math.PI);
      context.stroke();
    }
    var self = this;
    context.globalAlpha = 0.55;
    this.models[this.model()].codes.forEach(function (code) {
      var p = self.toPixels(code[0], code[1]);
      context.fillStyle = COLOURS[code[2]];
      context.fillRect(p[0] - 1.5 * dpr, p[1] - 1.5 * dpr, 3 * dpr, 3 * dpr);
    });
    context.globalAlpha = 1;
    var here = this.toPixels(this.z[0], this.z[1]);
    context.strokeStyle = "#000000";
    context.lineWidth = 2 * dpr;
    context.beginPath();
    context.arc(here[0], here[1], 6 * dpr, 0, 2 * Math.PI);
    context.stroke();
  };

  /* Black ink on white: a pixel of mean p is drawn with grey level round(255 (1 - p)). */
  Explorer.prototype.drawImage = function () {
    var context = this.image.getContext("2d");
    var pixels = context.createImageData(SIDE * ZOOM, SIDE * ZOOM);
    for (var y = 0; y < SIDE * ZOOM; y++) {
      for (var x = 0; x < SIDE * ZOOM; x++) {
        var grey = Math.round(255 * (1 - this.means[Math.floor(y / ZOOM) * SIDE + Math.floor(x / ZOOM)]));
        var at = 4 * (y * SIDE * ZOOM + x);
        pixels.data[at] = pixels.data[at + 1] = pixels.data[at + 2] = grey;
        pixels.data[at + 3] = 255;
      }
    }
    context.putImageData(pixels, 0, 0);
  };

  function start(root) {
    var script = root.querySelector("script.latent-explorer-data");
    if (!script || root.latentExplorer) return;
    var data = JSON.parse(script.textContent);
    if (data.format !== "latent-explorer" || data.version !== 2) {
      throw new Error("latent explorer: unsupported data format " + data.format + " v" + data.version);
    }
    var explorer = new Explorer(root, data);
    root.latentExplorer = {
      setPoint: function (z1, z2) { explorer.setPoint(z1, z2); },
      point: function () { return explorer.z.slice(); },
      setDigit: function (digit) { explorer.setDigit(digit); },
      intensities: function () { return Float32Array.from(explorer.means); },
      model: function () { return explorer.model(); }
    };
    root.classList.add("latent-explorer-ready");
  }

  function startAll() {
    document.querySelectorAll("div.latent-explorer").forEach(start);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
  else startAll();
})();
