#include "engine/runtime/paged_attention.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

// The inner loops are written so that the compiler vectorises them across
// the query heads that share a kv head (scores) and across head_dim
// (values); `omp simd` (-fopenmp-simd, no OpenMP runtime) allows it. On
// x86-64 the float32 kernel is also compiled for AVX2 + FMA and chosen at
// run time, so the binary stays portable.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LORAPLEX_PAGED_ATTENTION_AVX2 1
#endif

namespace loraplex::engine {
namespace {

template <typename scalar_t>
struct Args {
  const scalar_t* q;  // [T, heads, d]
  const scalar_t* keys;
  const scalar_t* values;  // [blocks, block_tokens, kv_heads, d]
  scalar_t* out;           // [T, heads, d]
  absl::Span<const int64_t> token_rows, positions;
  absl::Span<const std::vector<int64_t>* const> block_tables;
  std::optional<int64_t> sliding_window;
  int64_t heads, kv_heads, group, head_dim, block_tokens;
  int64_t block_stride, position_stride;  // In elements, in the pool.
  float scale;
};

// exp(x) for x <= 0 (scores minus their maximum), vectorisable: x =
// i ln2 + r with |r| <= ln2 / 2, exp(r) by its degree-6 Taylor polynomial
// (relative error below 2e-7, float32 rounding), times 2^i built in the
// exponent bits. Below -87 the result is 0, as expf's underflows to about
// 1e-38: nothing against a maximum term of 1.
inline __attribute__((always_inline)) float ExpNonPositive(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  const bool underflow = x < -87.0f;
  x = underflow ? -87.0f : x;
  const int32_t i = static_cast<int32_t>(x * kLog2e - 0.5f);
  const float fi = static_cast<float>(i);
  const float r = (x - fi * kLn2Hi) - fi * kLn2Lo;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (i + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return underflow ? 0.0f : p * scale;
}

// Scores of `n` keys for one kv head: s[j * gp + g] = q_g . k_j, q
// transposed in q_t [d, gp] (gp = the group padded to a multiple of W).
// W query heads are scored together in W accumulators, which the compiler
// keeps in one vector register (W = 8: AVX2) for all of head_dim; a
// runtime-sized loop over the group would store and reload them for every
// element of head_dim.
template <int W, typename scalar_t, typename KeyAt>
inline __attribute__((always_inline)) void ScoreKeys(const float* q_t,
                                                     int64_t gp, int64_t d,
                                                     int64_t n,
                                                     const KeyAt& key_at,
                                                     float* scores) {
  for (int64_t j = 0; j < n; ++j) {
    const scalar_t* k = key_at(j);
    float* s = scores + j * gp;
    if constexpr (W == 1) {
      float dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t e = 0; e < d; ++e) dot += q_t[e] * static_cast<float>(k[e]);
      s[0] = dot;
    } else {
      for (int64_t g0 = 0; g0 < gp; g0 += W) {
        float acc[W] = {};
        for (int64_t e = 0; e < d; ++e) {
          const float ke = static_cast<float>(k[e]);
          const float* qe = q_t + e * gp + g0;
          for (int w = 0; w < W; ++w) acc[w] += qe[w] * ke;
        }
        for (int w = 0; w < W; ++w) s[g0 + w] = acc[w];
      }
    }
  }
}

// Items [begin, end) of the (token, kv head) pairs: for each, the token's
// `group` query heads that read kv head `h`. Scores are kept [n, gp] so
// every loop over the group is contiguous.
template <typename scalar_t>
inline __attribute__((always_inline)) void AttendRange(const Args<scalar_t>& a,
                                                       int64_t begin,
                                                       int64_t end) {
  const int64_t d = a.head_dim;
  const int64_t group = a.group;
  const int width = group >= 8 ? 8 : group >= 4 ? 4 : group >= 2 ? 2 : 1;
  const int64_t gp = (group + width - 1) / width * width;
  std::vector<float> q_t(d * gp, 0.0f);  // [d, gp]: q transposed, 0-padded.
  std::vector<float> scores, acc(group * d), top(group), sum(group);
  for (int64_t item = begin; item < end; ++item) {
    const int64_t t = item / a.kv_heads;
    const int64_t h = item % a.kv_heads;
    const int64_t p = a.positions[t];
    const int64_t lo =
        a.sliding_window ? std::max<int64_t>(0, p - *a.sliding_window + 1) : 0;
    const int64_t n = p - lo + 1;
    const std::vector<int64_t>& table = *a.block_tables[a.token_rows[t]];
    const int64_t offset = (t * a.heads + h * group) * d;
    const scalar_t* q = a.q + offset;
    for (int64_t g = 0; g < group; ++g) {
      for (int64_t e = 0; e < d; ++e) {
        q_t[e * gp + g] = static_cast<float>(q[g * d + e]);
      }
    }
    auto at = [&](const scalar_t* pool, int64_t j) {
      return pool + table[j / a.block_tokens] * a.block_stride +
             (j % a.block_tokens) * a.position_stride + h * d;
    };
    auto key_at = [&](int64_t j) { return at(a.keys, lo + j); };
    scores.resize(n * gp);
    switch (width) {
      case 8:
        ScoreKeys<8, scalar_t>(q_t.data(), gp, d, n, key_at, scores.data());
        break;
      case 4:
        ScoreKeys<4, scalar_t>(q_t.data(), gp, d, n, key_at, scores.data());
        break;
      case 2:
        ScoreKeys<2, scalar_t>(q_t.data(), gp, d, n, key_at, scores.data());
        break;
      default:
        ScoreKeys<1, scalar_t>(q_t.data(), gp, d, n, key_at, scores.data());
    }
    // As Hugging Face: q.k rounded to the dtype, then scaled; softmax over
    // positions for each query head in float32; the probabilities rounded
    // to the dtype before they weight the values.
    std::fill(top.begin(), top.end(), -std::numeric_limits<float>::infinity());
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      float* s = scores.data() + j * gp;
#pragma omp simd
      for (int64_t g = 0; g < group; ++g) {
        s[g] = static_cast<float>(static_cast<scalar_t>(s[g])) * a.scale;
        top[g] = std::max(top[g], s[g]);
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      float* s = scores.data() + j * gp;
#pragma omp simd
      for (int64_t g = 0; g < group; ++g) {
        s[g] = ExpNonPositive(s[g] - top[g]);
        sum[g] += s[g];
      }
    }
    for (int64_t g = 0; g < group; ++g) sum[g] = 1.0f / sum[g];
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const scalar_t* v = at(a.values, lo + j);
      const float* w = scores.data() + j * gp;
      for (int64_t g = 0; g < group; ++g) {
        float* out = acc.data() + g * d;
        const float wg =
            static_cast<float>(static_cast<scalar_t>(w[g] * sum[g]));
#pragma omp simd
        for (int64_t e = 0; e < d; ++e) {
          out[e] += wg * static_cast<float>(v[e]);
        }
      }
    }
    scalar_t* out = a.out + offset;
    for (int64_t e = 0; e < group * d; ++e) {
      out[e] = static_cast<scalar_t>(acc[e]);
    }
  }
}

#ifdef LORAPLEX_PAGED_ATTENTION_AVX2
__attribute__((target("avx2,fma"))) void AttendRangeAvx2(const Args<float>& a,
                                                         int64_t begin,
                                                         int64_t end) {
  AttendRange<float>(a, begin, end);
}

bool HasAvx2Fma() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#endif

template <typename scalar_t>
void AttendRangeBest(const Args<scalar_t>& a, int64_t begin, int64_t end) {
#ifdef LORAPLEX_PAGED_ATTENTION_AVX2
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (HasAvx2Fma()) return AttendRangeAvx2(a, begin, end);
  }
#endif
  AttendRange<scalar_t>(a, begin, end);
}

}  // namespace

torch::Tensor PagedAttention(
    const torch::Tensor& q, const torch::Tensor& keys,
    const torch::Tensor& values, absl::Span<const int64_t> token_rows,
    absl::Span<const int64_t> positions,
    absl::Span<const std::vector<int64_t>* const> block_tables,
    std::optional<int64_t> sliding_window) {
  TORCH_CHECK(q.device().is_cpu() && keys.device().is_cpu(),
              "PagedAttention runs on the CPU");
  TORCH_CHECK(keys.is_contiguous() && values.is_contiguous(),
              "the KV pool must be contiguous");
  const torch::Tensor qc = q.contiguous();
  const int64_t T = qc.size(0);
  TORCH_CHECK(static_cast<int64_t>(token_rows.size()) == T &&
                  static_cast<int64_t>(positions.size()) == T,
              "one row and position per token");
  torch::Tensor out = torch::empty_like(qc);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, qc.scalar_type(), "PagedAttention", [&] {
        Args<scalar_t> a;
        a.q = qc.data_ptr<scalar_t>();
        a.keys = keys.data_ptr<scalar_t>();
        a.values = values.data_ptr<scalar_t>();
        a.out = out.data_ptr<scalar_t>();
        a.token_rows = token_rows;
        a.positions = positions;
        a.block_tables = block_tables;
        a.sliding_window = sliding_window;
        a.heads = qc.size(1);
        a.head_dim = qc.size(2);
        a.block_tokens = keys.size(1);
        a.kv_heads = keys.size(2);
        a.group = a.heads / a.kv_heads;
        a.position_stride = a.kv_heads * a.head_dim;
        a.block_stride = a.block_tokens * a.position_stride;
        a.scale = static_cast<float>(
            1.0 / std::sqrt(static_cast<double>(a.head_dim)));
        at::parallel_for(0, T * a.kv_heads, 1, [&](int64_t begin, int64_t end) {
          AttendRangeBest<scalar_t>(a, begin, end);
        });
      });
  return out.view({T, out.size(1) * out.size(2)});
}

}  // namespace loraplex::engine
