// Index kernels: index_select and gather (out[i] = data[... index ...]) and scatter_add
// (out[... index ...] += data[i], with atomics so repeated indices accumulate).
//
// One thread per element of the iteration space: out's shape for index_select/gather, the index's
// shape for scatter_add. Three strided operands walk it together:
//   0 "target": the tensor the index addresses (a for index_select/gather, out for scatter_add),
//               with stride 0 along `dim`: the index value times P.dim_stride replaces it
//   1 the index (int32, or int64 stored as i32 or as i64: TI); an i64 index beyond the i32 range is
//     clamped to it first, which keeps it out of range (dims are below 2**31)
//   2 "other": src for scatter_add (index_select/gather write out[P.out_offset + i] instead)
//
// A bad index (negative or >= P.dim_size) never reaches memory: the thread reports it in its
// dispatch's slot of `err` (wgtorch/_backends/wgpu/device_errors.py raises the op's exception at the next read
// or synchronize, naming every dispatch that reported) and stores 0 (index_select/gather) or adds
// nothing (scatter_add).
//
// The host (wgtorch/_backends/wgpu/index.py) prepends:
//   TO    the element storage type of data/out (f32, f16, i32, u32 for bool)
//   TOUT  out's element type: TO, or atomic<u32> for scatter_add
//   TI    the index's storage type (i32, or i64 for int64 on a device with shader-int64)
//   NDIM  dimensions of the iteration space after merging (0 .. 8)
//   WG    the workgroup size
// and keeps ONE `//@kernel NAME` section below, which defines `store` for that kernel.

// struct Meta and its binding P come from the family's ParamBlock (index.py).

@group(0) @binding(1) var<storage, read_write> out: array<TOUT>;
@group(0) @binding(2) var<storage, read> data: array<TO>;
@group(0) @binding(3) var<storage, read> index: array<TI>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>>;

// Record a bad index: the first report wins word 0 of the slot and writes the details.
fn report(k: i32) {
    let e = P.err_slot * 4u;
    loop {
        let r = atomicCompareExchangeWeak(&err[e], 0u, P.code);
        if (r.exchanged) {
            atomicStore(&err[e + 1u], bitcast<u32>(k));
            atomicStore(&err[e + 2u], P.dim_size);
            atomicStore(&err[e + 3u], P.dim);
            return;
        }
        if (r.old_value != 0u) {
            return;  // another thread reported first (the weak exchange may also fail spuriously)
        }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * u32(WG);
    if (i >= P.numel) {
        return;
    }
    var rem = i;
    var at_target = P.offset[0];
    var at_index = P.offset[1];
    var at_other = P.offset[2];
    for (var d = NDIM - 1; d >= 0; d--) {
        let n = P.shape[d];
        let c = rem % n;
        rem = rem / n;
        at_target += c * P.stride[0][d];
        at_index += c * P.stride[1][d];
        at_other += c * P.stride[2][d];
    }
    let k = i32(clamp(index[at_index], TI(-2147483648), TI(2147483647)));
    let ok = k >= 0 && u32(k) < P.dim_size;
    if (!ok) {
        report(k);
    }
    store(i, at_target + select(0u, u32(k), ok) * P.dim_stride, ok, at_other);
}

// ---- one section per kernel: its `store(i, at, ok, at_other)` ----

//@kernel gather
fn store(i: u32, at: u32, ok: bool, at_other: u32) {
    if (ok) {
        out[P.out_offset + i] = data[at];
    } else {
        out[P.out_offset + i] = TO(0);
    }
}
//@end

//@kernel scatter_f32
// Float atomics do not exist in WGSL: compare-exchange on the bits until no other thread
// changed the word in between (scatter.wgsl's store_cas32 with combine = +).
fn store(i: u32, at: u32, ok: bool, at_other: u32) {
    if (!ok) {
        return;
    }
    let v = data[at_other];
    var old = atomicLoad(&out[at]);
    loop {
        let updated = bitcast<u32>(bitcast<f32>(old) + v);
        if (updated == old) {
            break;  // adding 0 (or to NaN): nothing to write
        }
        let r = atomicCompareExchangeWeak(&out[at], old, updated);
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}
//@end

//@kernel scatter_f16
// Two f16 share a u32 word: this element's half gets the sum (the prelude's f16_at / with_f16),
// the neighbour's bits stay (scatter.wgsl's store_cas16 with combine = +).
fn store(i: u32, at: u32, ok: bool, at_other: u32) {
    if (!ok) {
        return;
    }
    let v = f32(data[at_other]);
    let word = at >> 1u;
    let shift = (at & 1u) * 16u;
    var old = atomicLoad(&out[word]);
    loop {
        let updated = with_f16(old, shift, f16_at(old, shift) + v);
        if (updated == old) {
            break;
        }
        let r = atomicCompareExchangeWeak(&out[word], old, updated);
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}
//@end

//@kernel scatter_int
// Two's-complement addition is the same on u32 and i32 bits.
fn store(i: u32, at: u32, ok: bool, at_other: u32) {
    if (ok) {
        atomicAdd(&out[at], bitcast<u32>(data[at_other]));
    }
}
//@end

//@kernel scatter_int64
// No 64-bit atomics in WGSL: out is two u32 words per element (low first). Add the low words,
// carry into the high word when the low sum wrapped: exact modulo 2**64 whatever the order.
fn store(i: u32, at: u32, ok: bool, at_other: u32) {
    if (ok) {
        let v = data[at_other];
        let lo = u32(v & 0xffffffffli);
        let hi = u32((v >> 32u) & 0xffffffffli);
        let old = atomicAdd(&out[2u * at], lo);
        atomicAdd(&out[2u * at + 1u], hi + select(0u, 1u, old + lo < old));
    }
}
//@end

//@kernel scatter_bool
// bool + bool is logical or, as in NumPy's add.at on bool.
fn store(i: u32, at: u32, ok: bool, at_other: u32) {
    if (ok && data[at_other] != 0u) {
        atomicOr(&out[at], 1u);
    }
}
//@end
