//! A small, self-contained decoder for sequential DCT JPEG with Huffman coding
//! (baseline SOF0 and extended SOF1), 8- or 12-bit sample precision.
//!
//! Why hand-written: DICOM "JPEG Extended (Process 2 & 4)" files carry 12-bit
//! lossy JPEG. dicom-rs decodes JPEG through `jpeg-decoder`, which refuses these
//! streams ("unsupported JPEG feature: SamplePrecision(12)"), and `zune-jpeg` has
//! no 12-bit support either; no maintained pure-Rust crate decodes them. The
//! format subset needed here is small, so it is implemented directly, favouring
//! clarity and accuracy (a separable floating-point IDCT) over speed.
//!
//! Supported: markers SOI, APPn, COM, DQT (8- and 16-bit tables), DHT, SOF0/SOF1,
//! DRI with RSTn restart markers, SOS (interleaved and non-interleaved scans,
//! several scans per frame), EOI, byte stuffing and fill bytes. Images with one
//! component are returned as is; images with three components are returned as
//! luminance (the Y component of YCbCr, or BT.601 luma of an RGB-coded JPEG).
//! Progressive, lossless, hierarchical and arithmetic-coded JPEG are refused
//! with an error. Malformed or truncated input yields `Err`, never a panic.

/// Zig-zag scan position -> natural (row-major) position in an 8x8 block.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Upper bound on the number of 8x8 blocks (all components) of a frame: 2^22
/// blocks is 268 million samples, far beyond any radiograph.
const MAX_BLOCKS: usize = 1 << 22;

/// A decoded grayscale JPEG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedJpeg {
    /// Image width in pixels (columns).
    pub width: u32,
    /// Image height in pixels (rows).
    pub height: u32,
    /// Sample precision in bits (8 or 12); samples lie in `0..2^precision`.
    pub precision: u8,
    /// Row-major samples, `width * height` of them.
    pub pixels: Vec<u16>,
}

/// Decodes a baseline/extended sequential Huffman JPEG (8 or 12-bit) to grayscale.
///
/// Single-component images are returned unchanged; three-component images are
/// reduced to luminance. Any unsupported or malformed input gives an `Err`
/// describing the problem.
pub fn decode_jpeg_gray(bytes: &[u8]) -> Result<DecodedJpeg, String> {
    Decoder::new(bytes).decode()
}

/// A Huffman table in the canonical form of JPEG Annex C/F.
#[derive(Clone)]
struct Huffman {
    /// Largest code of each length 1..=16 (index = length), -1 if none.
    maxcode: [i32; 17],
    /// Smallest code of each length.
    mincode: [i32; 17],
    /// Index into `values` of the first code of each length.
    valptr: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Result<Self, String> {
        let mut maxcode = [-1i32; 17];
        let mut mincode = [0i32; 17];
        let mut valptr = [0i32; 17];
        let mut code: i32 = 0;
        let mut k: i32 = 0;
        for len in 1..=16usize {
            let n = i32::from(counts[len - 1]);
            if n > 0 {
                valptr[len] = k;
                mincode[len] = code;
                code += n;
                k += n;
                if code > (1i32 << len) {
                    return Err("invalid Huffman table (code lengths over-subscribed)".into());
                }
                maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        if usize::try_from(k).ok() != Some(values.len()) {
            return Err("invalid Huffman table (value count mismatch)".into());
        }
        Ok(Self {
            maxcode,
            mincode,
            valptr,
            values,
        })
    }

    fn decode(&self, bits: &mut BitReader<'_>) -> Result<u8, String> {
        let mut code: i32 = 0;
        for len in 1..=16usize {
            code = (code << 1) | bits.bits(1)? as i32;
            if code <= self.maxcode[len] {
                let idx = self.valptr[len] + code - self.mincode[len];
                return usize::try_from(idx)
                    .ok()
                    .and_then(|i| self.values.get(i).copied())
                    .ok_or_else(|| "invalid Huffman code".to_string());
            }
        }
        Err("invalid Huffman code in entropy-coded data".into())
    }
}

/// Reads bits MSB-first from entropy-coded data, removing byte stuffing and
/// stopping at markers.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
    /// `pos` points at the 0xFF of a marker.
    at_marker: bool,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            nbits: 0,
            at_marker: false,
        }
    }

    fn fill(&mut self) {
        while self.nbits <= 56 && !self.at_marker {
            let Some(&b) = self.data.get(self.pos) else {
                return;
            };
            if b == 0xFF {
                match self.data.get(self.pos + 1) {
                    Some(0x00) => self.pos += 2,
                    // A fill byte preceding a marker: skip it.
                    Some(0xFF) => {
                        self.pos += 1;
                        continue;
                    }
                    Some(_) => {
                        self.at_marker = true;
                        return;
                    }
                    None => return,
                }
            } else {
                self.pos += 1;
            }
            self.acc = (self.acc << 8) | u64::from(b);
            self.nbits += 8;
        }
    }

    /// Reads `n` (0..=16) bits as an unsigned number.
    fn bits(&mut self, n: u32) -> Result<u32, String> {
        if n == 0 {
            return Ok(0);
        }
        if self.nbits < n {
            self.fill();
            if self.nbits < n {
                return Err(if self.at_marker {
                    format!(
                        "entropy-coded data ends early (marker 0xFF{:02X} at byte {})",
                        self.data.get(self.pos + 1).copied().unwrap_or(0),
                        self.pos
                    )
                } else {
                    "truncated JPEG data (entropy-coded segment runs past the end)".into()
                });
            }
        }
        self.nbits -= n;
        Ok(((self.acc >> self.nbits) & ((1u64 << n) - 1)) as u32)
    }

    /// Reads the `s` magnitude bits of a coefficient and sign-extends (F.2.2.1).
    fn receive_extend(&mut self, s: u32) -> Result<i32, String> {
        if s == 0 {
            return Ok(0);
        }
        let v = self.bits(s)? as i32;
        Ok(if v < (1i32 << (s - 1)) {
            v - (1i32 << s) + 1
        } else {
            v
        })
    }

    /// Handles a restart marker: discards buffered bits and consumes RSTn,
    /// which must be `expected` (0..=7).
    fn restart(&mut self, expected: u8) -> Result<(), String> {
        // Skip any bytes left before the marker (there should be none).
        loop {
            self.nbits = 0;
            if self.at_marker {
                break;
            }
            let before = self.pos;
            self.fill();
            if !self.at_marker && self.pos == before {
                return Err("truncated JPEG data (missing restart marker)".into());
            }
        }
        let m = self.data.get(self.pos + 1).copied().unwrap_or(0);
        if m != 0xD0 + expected {
            return Err(format!(
                "expected restart marker RST{expected}, found 0xFF{m:02X} at byte {}",
                self.pos
            ));
        }
        self.pos += 2;
        self.at_marker = false;
        self.acc = 0;
        Ok(())
    }
}

/// One image component of the frame, with its decoded samples.
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    /// Width of `plane` in blocks.
    bw: usize,
    /// Height of `plane` in blocks.
    bh: usize,
    /// Blocks coded in a non-interleaved scan of this component.
    ni_bw: usize,
    ni_bh: usize,
    plane: Vec<u16>,
    coded: bool,
}

struct Frame {
    precision: u8,
    width: usize,
    height: usize,
    hmax: usize,
    vmax: usize,
    mcux: usize,
    mcuy: usize,
    comps: Vec<Component>,
}

struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    qt: [Option<[u16; 64]>; 4],
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
    restart_interval: usize,
    frame: Option<Frame>,
    adobe_transform: Option<u8>,
    jfif: bool,
    idct: Idct,
}

fn ceil_div(a: usize, b: usize) -> usize {
    a.div_ceil(b)
}

fn sof_name(m: u8) -> &'static str {
    match m {
        0xC2 => "progressive DCT (SOF2)",
        0xC3 => "lossless (SOF3)",
        0xC5 => "differential sequential DCT (SOF5)",
        0xC6 => "differential progressive DCT (SOF6)",
        0xC7 => "differential lossless (SOF7)",
        0xC9 => "extended sequential DCT with arithmetic coding (SOF9)",
        0xCA => "progressive DCT with arithmetic coding (SOF10)",
        0xCB => "lossless with arithmetic coding (SOF11)",
        0xCD => "differential sequential DCT with arithmetic coding (SOF13)",
        0xCE => "differential progressive DCT with arithmetic coding (SOF14)",
        0xCF => "differential lossless with arithmetic coding (SOF15)",
        _ => "unknown",
    }
}

impl<'a> Decoder<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            qt: [None; 4],
            dc: [None, None, None, None],
            ac: [None, None, None, None],
            restart_interval: 0,
            frame: None,
            adobe_transform: None,
            jfif: false,
            idct: Idct::new(),
        }
    }

    /// Finds the next marker at or after `pos`, skipping fill bytes and any
    /// stray bytes; returns its code and leaves `pos` after it.
    fn next_marker(&mut self) -> Result<u8, String> {
        loop {
            let b = *self
                .data
                .get(self.pos)
                .ok_or("truncated JPEG data (no EOI marker)")?;
            if b != 0xFF {
                self.pos += 1;
                continue;
            }
            let m = *self
                .data
                .get(self.pos + 1)
                .ok_or("truncated JPEG data (no EOI marker)")?;
            match m {
                0xFF | 0x00 => self.pos += 1,
                _ => {
                    self.pos += 2;
                    return Ok(m);
                }
            }
        }
    }

    /// Reads a marker segment's payload (after its length field).
    fn segment(&mut self) -> Result<&'a [u8], String> {
        let data = self.data;
        let hi = *data.get(self.pos).ok_or("truncated marker segment")?;
        let lo = *data.get(self.pos + 1).ok_or("truncated marker segment")?;
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 2 {
            return Err(format!("invalid marker segment length {len}"));
        }
        let seg = data
            .get(self.pos + 2..self.pos + len)
            .ok_or("truncated marker segment")?;
        self.pos += len;
        Ok(seg)
    }

    fn decode(mut self) -> Result<DecodedJpeg, String> {
        if self.data.get(0..2) != Some(&[0xFF, 0xD8][..]) {
            return Err("not a JPEG stream (no SOI marker)".into());
        }
        self.pos = 2;
        let mut scans = 0usize;
        loop {
            let m = self.next_marker()?;
            match m {
                0xD9 => break,
                0xD8 => return Err("unexpected second SOI marker".into()),
                0xC0 | 0xC1 => {
                    let seg = self.segment()?;
                    self.parse_sof(seg)?;
                }
                0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                    return Err(format!(
                        "unsupported JPEG process: {}; only baseline/extended sequential \
                         Huffman DCT (SOF0/SOF1) is supported",
                        sof_name(m)
                    ))
                }
                0xCC => return Err("arithmetic-coded JPEG (DAC marker) is not supported".into()),
                0xDE | 0xDF => return Err("hierarchical JPEG (DHP/EXP) is not supported".into()),
                0xDC => return Err("JPEG with a DNL marker is not supported".into()),
                0xC4 => {
                    let seg = self.segment()?;
                    self.parse_dht(seg)?;
                }
                0xDB => {
                    let seg = self.segment()?;
                    self.parse_dqt(seg)?;
                }
                0xDD => {
                    let seg = self.segment()?;
                    let ri = seg.get(0..2).ok_or("DRI segment too short")?;
                    self.restart_interval = usize::from(u16::from_be_bytes([ri[0], ri[1]]));
                }
                0xDA => {
                    let seg = self.segment()?;
                    self.decode_scan(seg)?;
                    scans += 1;
                }
                0xE0 => {
                    let seg = self.segment()?;
                    if seg.starts_with(b"JFIF\0") {
                        self.jfif = true;
                    }
                }
                0xEE => {
                    let seg = self.segment()?;
                    if seg.len() >= 12 && seg.starts_with(b"Adobe") {
                        self.adobe_transform = Some(seg[11]);
                    }
                }
                // Stray restart markers and TEM carry no length.
                0xD0..=0xD7 | 0x01 => {}
                // APPn, COM, JPGn and reserved markers: skip the segment.
                _ => {
                    self.segment()?;
                }
            }
        }
        if scans == 0 {
            return Err("JPEG stream has no scan (SOS) before EOI".into());
        }
        self.output()
    }

    fn parse_sof(&mut self, seg: &[u8]) -> Result<(), String> {
        if self.frame.is_some() {
            return Err("more than one SOF marker".into());
        }
        if seg.len() < 6 {
            return Err("SOF segment too short".into());
        }
        let precision = seg[0];
        let height = usize::from(u16::from_be_bytes([seg[1], seg[2]]));
        let width = usize::from(u16::from_be_bytes([seg[3], seg[4]]));
        let nf = usize::from(seg[5]);
        if precision != 8 && precision != 12 {
            return Err(format!(
                "unsupported sample precision {precision} (only 8 and 12 bits)"
            ));
        }
        if height == 0 {
            return Err("image height 0 (DNL-defined height) is not supported".into());
        }
        if width == 0 {
            return Err("image width is 0".into());
        }
        if nf != 1 && nf != 3 {
            return Err(format!(
                "unsupported number of components {nf} (only 1 or 3)"
            ));
        }
        if seg.len() < 6 + 3 * nf {
            return Err("SOF segment too short for its components".into());
        }
        let mut comps = Vec::with_capacity(nf);
        for c in seg[6..6 + 3 * nf].chunks_exact(3) {
            let (mut h, mut v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                return Err(format!("invalid sampling factors {h}x{v}"));
            }
            if nf == 1 {
                // A single component is always coded non-interleaved (A.2.2).
                (h, v) = (1, 1);
            }
            let tq = usize::from(c[2]);
            if tq > 3 {
                return Err(format!("invalid quantisation table index {tq}"));
            }
            if comps.iter().any(|k: &Component| k.id == c[0]) {
                return Err(format!("duplicate component id {}", c[0]));
            }
            comps.push(Component {
                id: c[0],
                h,
                v,
                tq,
                bw: 0,
                bh: 0,
                ni_bw: 0,
                ni_bh: 0,
                plane: Vec::new(),
                coded: false,
            });
        }
        let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
        let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
        let mcux = ceil_div(width, 8 * hmax);
        let mcuy = ceil_div(height, 8 * vmax);
        let mut total_blocks = 0usize;
        for c in &mut comps {
            c.bw = mcux * c.h;
            c.bh = mcuy * c.v;
            c.ni_bw = ceil_div(ceil_div(width * c.h, hmax), 8);
            c.ni_bh = ceil_div(ceil_div(height * c.v, vmax), 8);
            total_blocks += c.bw * c.bh;
        }
        // Every coded block takes at least two bits, so a genuine stream of n
        // bytes cannot hold more than about 4n blocks; refuse absurd headers
        // before allocating.
        if total_blocks > MAX_BLOCKS
            || total_blocks > self.data.len().saturating_mul(4).saturating_add(4096)
        {
            return Err(format!(
                "implausible frame size {width}x{height} for a {}-byte JPEG stream",
                self.data.len()
            ));
        }
        for c in &mut comps {
            c.plane = vec![0u16; c.bw * c.bh * 64];
        }
        self.frame = Some(Frame {
            precision,
            width,
            height,
            hmax,
            vmax,
            mcux,
            mcuy,
            comps,
        });
        Ok(())
    }

    fn parse_dht(&mut self, mut seg: &[u8]) -> Result<(), String> {
        while !seg.is_empty() {
            if seg.len() < 17 {
                return Err("DHT segment too short".into());
            }
            let (tc, th) = (seg[0] >> 4, usize::from(seg[0] & 15));
            if tc > 1 || th > 3 {
                return Err(format!("invalid Huffman table class {tc} / index {th}"));
            }
            let mut counts = [0u8; 16];
            counts.copy_from_slice(&seg[1..17]);
            let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
            if n > 256 {
                return Err("invalid Huffman table (more than 256 codes)".into());
            }
            let values = seg.get(17..17 + n).ok_or("DHT segment too short")?.to_vec();
            let table = Huffman::new(&counts, values)?;
            if tc == 0 {
                self.dc[th] = Some(table);
            } else {
                self.ac[th] = Some(table);
            }
            seg = &seg[17 + n..];
        }
        Ok(())
    }

    fn parse_dqt(&mut self, mut seg: &[u8]) -> Result<(), String> {
        while !seg.is_empty() {
            let (pq, tq) = (seg[0] >> 4, usize::from(seg[0] & 15));
            if pq > 1 || tq > 3 {
                return Err(format!(
                    "invalid quantisation table precision {pq} / index {tq}"
                ));
            }
            let size = if pq == 0 { 64 } else { 128 };
            let body = seg.get(1..1 + size).ok_or("DQT segment too short")?;
            let mut table = [0u16; 64];
            for (k, q) in table.iter_mut().enumerate() {
                *q = if pq == 0 {
                    u16::from(body[k])
                } else {
                    u16::from_be_bytes([body[2 * k], body[2 * k + 1]])
                };
            }
            self.qt[tq] = Some(table);
            seg = &seg[1 + size..];
        }
        Ok(())
    }

    fn decode_scan(&mut self, seg: &[u8]) -> Result<(), String> {
        let frame = self.frame.as_mut().ok_or("SOS marker before SOF")?;
        let ns = usize::from(*seg.first().ok_or("SOS segment too short")?);
        if !(1..=4).contains(&ns) {
            return Err(format!("invalid number of scan components {ns}"));
        }
        if seg.len() < 1 + 2 * ns + 3 {
            return Err("SOS segment too short".into());
        }
        // Ss, Se, Ah/Al are fixed (0, 63, 0) for sequential DCT; like libjpeg,
        // other values are tolerated and ignored.
        struct ScanComp<'h> {
            ci: usize,
            dc: &'h Huffman,
            ac: &'h Huffman,
            q: [f64; 64],
            pred: i64,
        }
        let mut sc: Vec<ScanComp<'_>> = Vec::with_capacity(ns);
        for c in seg[1..1 + 2 * ns].chunks_exact(2) {
            let ci = frame
                .comps
                .iter()
                .position(|k| k.id == c[0])
                .ok_or_else(|| format!("scan refers to unknown component id {}", c[0]))?;
            if sc.iter().any(|s| s.ci == ci) {
                return Err(format!("component id {} appears twice in a scan", c[0]));
            }
            let (td, ta) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
            let dc = self
                .dc
                .get(td)
                .and_then(Option::as_ref)
                .ok_or_else(|| format!("scan uses undefined DC Huffman table {td}"))?;
            let ac = self
                .ac
                .get(ta)
                .and_then(Option::as_ref)
                .ok_or_else(|| format!("scan uses undefined AC Huffman table {ta}"))?;
            let tq = frame.comps[ci].tq;
            let qt = self.qt[tq]
                .as_ref()
                .ok_or_else(|| format!("component uses undefined quantisation table {tq}"))?;
            // Dequantisation table in natural order.
            let mut q = [0f64; 64];
            for (k, &v) in qt.iter().enumerate() {
                q[ZIGZAG[k]] = f64::from(v);
            }
            sc.push(ScanComp {
                ci,
                dc,
                ac,
                q,
                pred: 0,
            });
        }

        // MCU geometry (A.2).
        let (mcus_x, mcus_y) = if ns == 1 {
            let c = &frame.comps[sc[0].ci];
            (c.ni_bw, c.ni_bh)
        } else {
            let blocks: usize = sc
                .iter()
                .map(|s| frame.comps[s.ci].h * frame.comps[s.ci].v)
                .sum();
            if blocks > 10 {
                return Err("interleaved scan has more than 10 blocks per MCU".into());
            }
            (frame.mcux, frame.mcuy)
        };

        let maxval = (1i32 << frame.precision) - 1;
        let shift = 1i32 << (frame.precision - 1);
        let mut bits = BitReader::new(self.data, self.pos);
        let total = mcus_x * mcus_y;
        let ri = self.restart_interval;
        let mut next_rst = 0u8;
        let mut coef = [0i32; 64];
        let mut deq = [0f64; 64];
        let mut out = [0f64; 64];
        for mcu in 0..total {
            if ri > 0 && mcu > 0 && mcu % ri == 0 {
                bits.restart(next_rst)?;
                next_rst = (next_rst + 1) & 7;
                for s in &mut sc {
                    s.pred = 0;
                }
            }
            let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
            for s in &mut sc {
                let comp = &mut frame.comps[s.ci];
                let (bh_n, bv_n) = if ns == 1 { (1, 1) } else { (comp.h, comp.v) };
                for by in 0..bv_n {
                    for bx in 0..bh_n {
                        decode_block(&mut bits, s.dc, s.ac, &mut s.pred, &mut coef)?;
                        for k in 0..64 {
                            deq[k] = f64::from(coef[k]) * s.q[k];
                        }
                        self.idct.run(&deq, &mut out);
                        let (col, row) = (mx * bh_n + bx, my * bv_n + by);
                        if col >= comp.bw || row >= comp.bh {
                            continue;
                        }
                        let stride = comp.bw * 8;
                        for (y, orow) in out.chunks_exact(8).enumerate() {
                            let start = (row * 8 + y) * stride + col * 8;
                            let Some(dst) = comp.plane.get_mut(start..start + 8) else {
                                return Err("internal error: block outside plane".into());
                            };
                            for (d, &o) in dst.iter_mut().zip(orow) {
                                // `as` saturates (and maps NaN to 0); clamp after.
                                let v = (o.round() as i32).saturating_add(shift);
                                *d = v.clamp(0, maxval) as u16;
                            }
                        }
                    }
                }
            }
        }
        for s in &sc {
            frame.comps[s.ci].coded = true;
        }
        // Continue marker parsing where the entropy-coded data stopped.
        self.pos = bits.pos;
        Ok(())
    }

    fn output(self) -> Result<DecodedJpeg, String> {
        let frame = self.frame.ok_or("JPEG stream has no SOF marker")?;
        let (w, h) = (frame.width, frame.height);
        let maxval = (1u32 << frame.precision) - 1;
        // Sample of component `c` for image pixel (x, y), replicating
        // subsampled components (nearest neighbour).
        let sample = |c: &Component, x: usize, y: usize| -> u16 {
            let cx = x * c.h / frame.hmax;
            let cy = y * c.v / frame.vmax;
            c.plane.get(cy * c.bw * 8 + cx).copied().unwrap_or(0)
        };
        let rgb = frame.comps.len() == 3
            && (self.adobe_transform == Some(0)
                || (!self.jfif
                    && self.adobe_transform.is_none()
                    && frame.comps[0].id == b'R'
                    && frame.comps[1].id == b'G'
                    && frame.comps[2].id == b'B'));
        let used = if rgb { 3 } else { 1 };
        for c in frame.comps.iter().take(used) {
            if !c.coded {
                return Err(format!("component id {} is never coded in any scan", c.id));
            }
        }
        let mut pixels = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let v = if rgb {
                    let r = f64::from(sample(&frame.comps[0], x, y));
                    let g = f64::from(sample(&frame.comps[1], x, y));
                    let b = f64::from(sample(&frame.comps[2], x, y));
                    let l = (0.299 * r + 0.587 * g + 0.114 * b).round() as u32;
                    l.min(maxval) as u16
                } else {
                    sample(&frame.comps[0], x, y)
                };
                pixels.push(v);
            }
        }
        Ok(DecodedJpeg {
            width: w as u32,
            height: h as u32,
            precision: frame.precision,
            pixels,
        })
    }
}

/// Decodes one 8x8 block's coefficients (F.2.2) into `coef`, natural order.
fn decode_block(
    bits: &mut BitReader<'_>,
    dc: &Huffman,
    ac: &Huffman,
    pred: &mut i64,
    coef: &mut [i32; 64],
) -> Result<(), String> {
    *coef = [0; 64];
    let s = dc.decode(bits)?;
    if s > 16 {
        return Err(format!("invalid DC difference category {s}"));
    }
    let diff = if s == 16 {
        // Only meaningful in lossless mode; tolerated as +32768.
        32768
    } else {
        bits.receive_extend(u32::from(s))?
    };
    *pred = pred.saturating_add(i64::from(diff));
    // Keep the predictor in a range where dequantisation stays finite.
    *pred = (*pred).clamp(-(1 << 24), 1 << 24);
    coef[0] = *pred as i32;
    let mut k = 1usize;
    while k < 64 {
        let rs = ac.decode(bits)?;
        let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
        if s == 0 {
            if r == 15 {
                k += 16;
                continue;
            }
            break;
        }
        k += r;
        if k > 63 {
            return Err("AC coefficient index out of range in entropy-coded data".into());
        }
        coef[ZIGZAG[k]] = bits.receive_extend(s)?;
        k += 1;
    }
    Ok(())
}

/// Separable floating-point 8x8 inverse DCT (A.3.3).
struct Idct {
    /// m[x * 8 + u] = C(u)/2 * cos((2x+1) u pi / 16).
    m: [f64; 64],
}

impl Idct {
    fn new() -> Self {
        let mut m = [0f64; 64];
        for x in 0..8 {
            for u in 0..8 {
                let cu = if u == 0 {
                    std::f64::consts::FRAC_1_SQRT_2
                } else {
                    1.0
                };
                m[x * 8 + u] =
                    0.5 * cu * (((2 * x + 1) * u) as f64 * std::f64::consts::PI / 16.0).cos();
            }
        }
        Self { m }
    }

    /// `f` holds dequantised coefficients in natural order (row = vertical
    /// frequency); writes samples (before level shift) to `out`, row-major.
    fn run(&self, f: &[f64; 64], out: &mut [f64; 64]) {
        let mut tmp = [0f64; 64];
        // Rows: tmp[v][x] = sum_u f[v][u] m[x][u].
        for v in 0..8 {
            for x in 0..8 {
                let mut acc = 0.0;
                for u in 0..8 {
                    acc += f[v * 8 + u] * self.m[x * 8 + u];
                }
                tmp[v * 8 + x] = acc;
            }
        }
        // Columns: out[y][x] = sum_v m[y][v] tmp[v][x].
        for y in 0..8 {
            for x in 0..8 {
                let mut acc = 0.0;
                for v in 0..8 {
                    acc += self.m[y * 8 + v] * tmp[v * 8 + x];
                }
                out[y * 8 + x] = acc;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/dicom-samples");

    /// The JPEG codestream of an encapsulated-pixel-data DICOM file: from the
    /// first SOI after the (7FE0,0010) tag to the last EOI.
    fn codestream(dcm: &[u8]) -> &[u8] {
        let find = |hay: &[u8], needle: &[u8], from: usize| {
            hay[from..]
                .windows(needle.len())
                .position(|w| w == needle)
                .map(|p| p + from)
        };
        let tag = find(dcm, &[0xE0, 0x7F, 0x10, 0x00], 0).expect("pixel data tag");
        let soi = find(dcm, &[0xFF, 0xD8, 0xFF], tag).expect("SOI");
        let eoi = dcm
            .windows(2)
            .rposition(|w| w == [0xFF, 0xD9])
            .expect("EOI");
        &dcm[soi..eoi + 2]
    }

    fn read_sample(name: &str) -> Vec<u8> {
        std::fs::read(format!("{SAMPLES}/{name}")).expect("sample DICOM file")
    }

    fn u16_at(b: &[u8], tag: [u8; 4]) -> u16 {
        // Explicit VR little endian US element: tag, "US", len 2, value.
        let p = b
            .windows(6)
            .position(|w| w[..4] == tag && &w[4..] == b"US")
            .unwrap();
        u16::from_le_bytes([b[p + 8], b[p + 9]])
    }

    fn mean_abs_diff(a: &[u16], b: &[u16]) -> f64 {
        assert_eq!(a.len(), b.len());
        let s: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
            .sum();
        s / a.len() as f64
    }

    fn max_abs_diff(a: &[u16], b: &[u16]) -> i32 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (i32::from(x) - i32::from(y)).abs())
            .max()
            .unwrap_or(0)
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn gray_gradient(w: u32, h: u32) -> image::GrayImage {
        image::GrayImage::from_fn(w, h, |x, y| {
            let v = 20.0
                + 200.0 * (x + y) as f64 / (w + h) as f64
                + 15.0 * ((x as f64) / 9.0).sin() * ((y as f64) / 13.0).cos();
            image::Luma([v.round() as u8])
        })
    }

    fn encode_with_image(img: &image::GrayImage, quality: u8) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
            .encode_image(img)
            .unwrap();
        bytes
    }

    fn decode_with_image(bytes: &[u8]) -> image::DynamicImage {
        image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg).unwrap()
    }

    #[test]
    fn eight_bit_matches_image_crate() {
        // 64x48 and a size that is not a multiple of 8 (cropping).
        for (w, h) in [(64, 48), (77, 45)] {
            let bytes = encode_with_image(&gray_gradient(w, h), 90);
            let ours = decode_jpeg_gray(&bytes).unwrap();
            let theirs = decode_with_image(&bytes).to_luma8();
            assert_eq!((ours.width, ours.height, ours.precision), (w, h, 8));
            let theirs: Vec<u16> = theirs.as_raw().iter().map(|&v| u16::from(v)).collect();
            let mad = mean_abs_diff(&ours.pixels, &theirs);
            assert!(mad < 1.5, "{w}x{h}: mean abs diff {mad}");
            // And close to the source image.
            let src: Vec<u16> = gray_gradient(w, h)
                .as_raw()
                .iter()
                .map(|&v| v.into())
                .collect();
            assert!(mean_abs_diff(&ours.pixels, &src) < 3.0);
        }
    }

    fn bt601(rgb: &image::RgbImage) -> Vec<u16> {
        rgb.pixels()
            .map(|p| {
                let [r, g, b] = p.0.map(f64::from);
                (0.299 * r + 0.587 * g + 0.114 * b).round() as u16
            })
            .collect()
    }

    #[test]
    fn colour_jpeg_decodes_to_luminance() {
        let img = image::RgbImage::from_fn(50, 37, |x, y| {
            image::Rgb([
                (40 + 3 * x) as u8,
                (200 - 4 * y) as u8,
                (100.0 + 60.0 * (x as f64 / 7.0).sin()) as u8,
            ])
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
            .encode_image(&img)
            .unwrap();
        let ours = decode_jpeg_gray(&bytes).unwrap();
        assert_eq!((ours.width, ours.height), (50, 37));
        let reference = bt601(&decode_with_image(&bytes).to_rgb8());
        let mad = mean_abs_diff(&ours.pixels, &reference);
        assert!(mad < 1.5, "mean abs diff {mad}");

        // A real DCMTK-written colour DICOM (YCbCr, JFIF).
        let dcm = read_sample("SC_rgb_jpeg_dcmtk.dcm");
        let cs = codestream(&dcm);
        let ours = decode_jpeg_gray(cs).unwrap();
        let reference = bt601(&decode_with_image(cs).to_rgb8());
        assert_eq!((ours.width, ours.height), (100, 100));
        let mad = mean_abs_diff(&ours.pixels, &reference);
        assert!(mad < 1.5, "dcmtk colour: mean abs diff {mad}");
    }

    #[test]
    fn real_12_bit_dicom() {
        let dcm = read_sample("JPGExtended.dcm");
        let cs = codestream(&dcm);
        let img = decode_jpeg_gray(cs).unwrap();
        // DICOM Rows = 1024, Columns = 256 (the SOF agrees).
        let rows = u16_at(&dcm, [0x28, 0x00, 0x10, 0x00]);
        let cols = u16_at(&dcm, [0x28, 0x00, 0x11, 0x00]);
        assert_eq!((rows, cols), (1024, 256));
        assert_eq!((img.width, img.height, img.precision), (256, 1024, 12));
        assert_eq!(img.pixels.len(), 256 * 1024);
        assert!(img.pixels.iter().all(|&v| v <= 4095));
        let min = *img.pixels.iter().min().unwrap();
        let max = *img.pixels.iter().max().unwrap();
        assert!(max > min + 100, "nearly constant image {min}..{max}");
        let n = img.pixels.len() as f64;
        let mean = img.pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = img
            .pixels
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let std = var.sqrt();
        let w = img.width as usize;
        let mut dsum = 0.0;
        let mut dn = 0.0;
        for row in img.pixels.chunks_exact(w) {
            for p in row.windows(2) {
                dsum += (f64::from(p[1]) - f64::from(p[0])).abs();
                dn += 1.0;
            }
        }
        let mad = dsum / dn;
        eprintln!(
            "12-bit sample: min {min} max {max} mean {mean:.1} std {std:.1} neighbour mad {mad:.2}"
        );
        assert!(
            mad < 0.1 * std,
            "not smooth: neighbour diff {mad}, std {std}"
        );
    }

    /// A minimal sequential JPEG encoder (single component, fixed-length
    /// Huffman codes) used to check 12-bit decoding, 16-bit quantisation
    /// tables, restart markers and odd sizes against known pixels.
    fn encode_test_jpeg(
        px: &[u16],
        w: usize,
        h: usize,
        precision: u8,
        q: &[u16; 64],
        restart: u16,
    ) -> Vec<u8> {
        struct Bw {
            out: Vec<u8>,
            acc: u32,
            n: u32,
        }
        impl Bw {
            fn put(&mut self, code: u32, len: u32) {
                for i in (0..len).rev() {
                    self.acc = (self.acc << 1) | ((code >> i) & 1);
                    self.n += 1;
                    if self.n == 8 {
                        let b = self.acc as u8;
                        self.out.push(b);
                        if b == 0xFF {
                            self.out.push(0);
                        }
                        self.acc = 0;
                        self.n = 0;
                    }
                }
            }
            fn flush(&mut self) {
                while self.n != 0 {
                    self.put(1, 1);
                }
            }
        }
        fn category(v: i32) -> u32 {
            32 - v.unsigned_abs().leading_zeros()
        }
        fn magnitude_bits(v: i32, s: u32) -> u32 {
            if v < 0 {
                (v + (1 << s) - 1) as u32
            } else {
                v as u32
            }
        }
        let mut ac_syms = vec![0x00u8, 0xF0];
        for r in 0..16u8 {
            for s in 1..16u8 {
                ac_syms.push(r << 4 | s);
            }
        }
        let ac_code = |sym: u8| ac_syms.iter().position(|&s| s == sym).unwrap() as u32;
        let seg = |out: &mut Vec<u8>, marker: u8, body: &[u8]| {
            out.extend([0xFF, marker]);
            out.extend(((body.len() + 2) as u16).to_be_bytes());
            out.extend(body);
        };
        let mut out = vec![0xFF, 0xD8];
        let mut dqt = vec![0x10u8];
        for &v in q {
            dqt.extend(v.to_be_bytes());
        }
        seg(&mut out, 0xDB, &dqt);
        let mut sof = vec![precision];
        sof.extend((h as u16).to_be_bytes());
        sof.extend((w as u16).to_be_bytes());
        // Sampling 2x2 on the single component: must be treated as 1x1.
        sof.extend([1, 1, 0x22, 0]);
        seg(&mut out, if precision == 8 { 0xC0 } else { 0xC1 }, &sof);
        let mut dht = vec![0x00u8];
        let mut counts = [0u8; 16];
        counts[4] = 16;
        dht.extend(counts);
        dht.extend(0..16u8);
        seg(&mut out, 0xC4, &dht);
        let mut dht = vec![0x10u8];
        let mut counts = [0u8; 16];
        counts[7] = ac_syms.len() as u8;
        dht.extend(counts);
        dht.extend(&ac_syms);
        seg(&mut out, 0xC4, &dht);
        if restart > 0 {
            seg(&mut out, 0xDD, &restart.to_be_bytes());
        }
        seg(&mut out, 0xDA, &[1, 1, 0x00, 0, 63, 0]);

        let idct = Idct::new();
        let shift = f64::from(1u32 << (precision - 1));
        let (bw, bh) = (w.div_ceil(8), h.div_ceil(8));
        let mut bits = Bw {
            out: Vec::new(),
            acc: 0,
            n: 0,
        };
        let mut pred = 0i32;
        let mut rst = 0u8;
        for b in 0..bw * bh {
            if restart > 0 && b > 0 && b % usize::from(restart) == 0 {
                bits.flush();
                bits.out.extend([0xFF, 0xD0 + rst]);
                rst = (rst + 1) & 7;
                pred = 0;
            }
            let (bx, by) = (b % bw, b / bw);
            let mut f = [0f64; 64];
            for y in 0..8 {
                for x in 0..8 {
                    let sx = (bx * 8 + x).min(w - 1);
                    let sy = (by * 8 + y).min(h - 1);
                    f[y * 8 + x] = f64::from(px[sy * w + sx]) - shift;
                }
            }
            // Forward DCT: F[v][u] = sum_y sum_x m[y][v] m[x][u] f[y][x].
            let mut zz = [0i32; 64];
            for k in 0..64 {
                let (v, u) = (ZIGZAG[k] / 8, ZIGZAG[k] % 8);
                let mut acc = 0.0;
                for y in 0..8 {
                    for x in 0..8 {
                        acc += idct.m[y * 8 + v] * idct.m[x * 8 + u] * f[y * 8 + x];
                    }
                }
                zz[k] = (acc / f64::from(q[k])).round() as i32;
            }
            let diff = zz[0] - pred;
            pred = zz[0];
            let s = category(diff);
            bits.put(s, 5);
            bits.put(magnitude_bits(diff, s), s);
            let mut run = 0u8;
            for &v in &zz[1..] {
                if v == 0 {
                    run += 1;
                    continue;
                }
                while run > 15 {
                    bits.put(ac_code(0xF0), 8);
                    run -= 16;
                }
                let s = category(v);
                bits.put(ac_code(run << 4 | s as u8), 8);
                bits.put(magnitude_bits(v, s), s);
                run = 0;
            }
            if run > 0 {
                bits.put(ac_code(0x00), 8);
            }
        }
        bits.flush();
        out.extend(bits.out);
        out.extend([0xFF, 0xD9]);
        out
    }

    fn test_pattern(w: usize, h: usize, maxval: f64) -> Vec<u16> {
        let mut px = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let t = (x + 2 * y) as f64 / (w + 2 * h) as f64;
                let mut v = maxval * (0.1 + 0.8 * t)
                    + 0.08 * maxval * ((x as f64) / 5.0).sin() * ((y as f64) / 3.0).cos();
                if x > w / 2 && y > h / 2 {
                    v = maxval; // a saturated corner with a sharp edge
                } else if x < 4 && y < 4 {
                    v = 0.0;
                }
                px.push(v.round().clamp(0.0, maxval) as u16);
            }
        }
        px
    }

    #[test]
    fn twelve_bit_round_trip_with_restarts() {
        let (w, h) = (45, 37);
        let src = test_pattern(w, h, 4095.0);
        for restart in [0u16, 1, 3, 7] {
            let bytes = encode_test_jpeg(&src, w, h, 12, &[1; 64], restart);
            let img = decode_jpeg_gray(&bytes).unwrap();
            assert_eq!((img.width, img.height, img.precision), (45, 37, 12));
            let mad = mean_abs_diff(&img.pixels, &src);
            let max = max_abs_diff(&img.pixels, &src);
            assert!(
                mad < 0.5 && max <= 2,
                "restart {restart}: mad {mad} max {max}"
            );
        }
        // Coarser quantisation still decodes close to the source.
        let q: [u16; 64] = std::array::from_fn(|k| 8 + 2 * k as u16);
        let bytes = encode_test_jpeg(&src, w, h, 12, &q, 5);
        let img = decode_jpeg_gray(&bytes).unwrap();
        let mad = mean_abs_diff(&img.pixels, &src);
        assert!(mad < 25.0, "coarse: mad {mad}");
    }

    #[test]
    fn own_eight_bit_encoder_agrees_with_image_crate() {
        let (w, h) = (45, 37);
        let src = test_pattern(w, h, 255.0);
        let q: [u16; 64] = std::array::from_fn(|k| 2 + k as u16 / 4);
        let bytes = encode_test_jpeg(&src, w, h, 8, &q, 4);
        let ours = decode_jpeg_gray(&bytes).unwrap();
        let theirs: Vec<u16> = decode_with_image(&bytes)
            .to_luma8()
            .as_raw()
            .iter()
            .map(|&v| v.into())
            .collect();
        let mad = mean_abs_diff(&ours.pixels, &theirs);
        assert!(mad < 1.0, "mad vs image crate {mad}");
        assert!(mean_abs_diff(&ours.pixels, &src) < 2.0);
    }

    #[test]
    fn unsupported_processes_are_refused() {
        let bytes = encode_with_image(&gray_gradient(16, 16), 80);
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        for (m, word) in [
            (0xC2u8, "progressive"),
            (0xC3, "lossless"),
            (0xC9, "arithmetic"),
        ] {
            let mut b = bytes.clone();
            b[sof + 1] = m;
            let err = decode_jpeg_gray(&b).unwrap_err();
            assert!(err.contains(word), "{err}");
        }
        // Precision 16 and four components (CMYK) are refused too.
        let mut b = bytes.clone();
        b[sof + 4] = 16;
        assert!(decode_jpeg_gray(&b).unwrap_err().contains("precision"));
        let mut b = bytes.clone();
        b[sof + 9] = 4;
        assert!(decode_jpeg_gray(&b).unwrap_err().contains("components"));
    }

    #[test]
    fn truncated_and_garbage_inputs_are_errors() {
        let dcm = read_sample("JPGExtended.dcm");
        let cs12 = codestream(&dcm).to_vec();
        let cs8 = encode_with_image(&gray_gradient(77, 45), 90);
        let own = encode_test_jpeg(&test_pattern(45, 37, 4095.0), 45, 37, 12, &[1; 64], 3);
        for cs in [&cs12, &cs8, &own] {
            let mut lens: Vec<usize> = (0..cs.len()).step_by(97).collect();
            lens.extend([cs.len() - 1, cs.len() - 2, cs.len() - 3]);
            for n in lens {
                assert!(decode_jpeg_gray(&cs[..n]).is_err(), "prefix {n} decoded");
            }
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for i in 0..300 {
            let n = rng.below(3000);
            let mut b: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            if i % 2 == 0 && n >= 2 {
                b[0] = 0xFF;
                b[1] = 0xD8;
            }
            assert!(decode_jpeg_gray(&b).is_err(), "random input {i} decoded");
        }
        // Valid headers followed by random entropy-coded data, and streams
        // with corrupted bytes: any result is fine, but no panic.
        for cs in [&cs12, &cs8, &own] {
            let sos = cs.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
            for _ in 0..50 {
                let mut b = cs[..sos + 10].to_vec();
                let n = rng.below(4000);
                b.extend((0..n).map(|_| rng.next() as u8));
                b.extend([0xFF, 0xD9]);
                let _ = decode_jpeg_gray(&b);
            }
            for i in 0..400 {
                let mut b = cs.clone();
                let region = if i % 2 == 0 { sos + 12 } else { b.len() };
                for _ in 0..1 + rng.below(4) {
                    let p = rng.below(region.min(b.len()));
                    b[p] = rng.next() as u8;
                }
                let _ = decode_jpeg_gray(&b);
            }
        }
    }
}
