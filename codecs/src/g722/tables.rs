//! Quantiser and scale-factor tables of ITU-T G.722 (Tables 6–10 and the
//! QMF coefficients of Table 11), in the integer form used by the
//! recommendation's fixed-point description.

/// Lower-band 6-bit quantiser decision levels (Table 6), scaled by 2^-12
/// of the scale factor; index 1..=29 are the interval upper bounds.
pub const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];

/// Lower-band codes for negative differences, by quantiser interval.
pub const ILN: [u8; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];

/// Lower-band codes for positive differences, by quantiser interval.
pub const ILP: [u8; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];

/// Lower-band 4-bit inverse quantiser outputs (Table 7, used for the
/// predictor in every mode), indexed by the 4 MSBs of the lower code.
pub const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];

/// Lower-band 6-bit inverse quantiser outputs (Table 6 reconstruction
/// levels, mode 1 decoder output path), indexed by the 6-bit lower code.
pub const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];

/// Lower-band 5-bit inverse quantiser outputs (mode 2, 56 kbit/s decoder
/// output path), indexed by the 5 MSBs of the 6-bit lower code.
pub const QM5: [i32; 32] = [
    -280, -280, -23352, -17560, -14120, -11664, -9752, -8184, -6864, -5712, -4696, -3784, -2960,
    -2208, -1520, -880, 23352, 17560, 14120, 11664, 9752, 8184, 6864, 5712, 4696, 3784, 2960, 2208,
    1520, 880, 280, -280,
];

/// Maps a 4-bit lower code to its magnitude class for the log scale
/// factor update (Table 8).
pub const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];

/// Lower-band log scale factor multipliers (Table 8).
pub const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];

/// Upper-band 2-bit inverse quantiser outputs (Table 9).
pub const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];

/// Upper-band code for a negative difference, by interval (1 or 2).
pub const IHN: [u8; 3] = [0, 1, 0];

/// Upper-band code for a positive difference, by interval (1 or 2).
pub const IHP: [u8; 3] = [0, 3, 2];

/// Maps a 2-bit upper code to its magnitude class (Table 10).
pub const RH2: [usize; 4] = [2, 1, 2, 1];

/// Upper-band log scale factor multipliers (Table 10).
pub const WH: [i32; 3] = [0, -214, 798];

/// Upper-band quantiser decision level, scaled by 2^-12 of the scale factor.
pub const Q2: i32 = 564;

/// Inverse log2 table for the scale factor computation (block 3L/3H
/// SCALEL/SCALEH): 2^(i/32) scaled to 2048.
pub const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];

/// Even-indexed taps h(2i), i = 0..11, of the symmetric 24-tap QMF
/// (Table 11, h(23 − k) = h(k)); by symmetry the odd taps are
/// h(2i + 1) = `QMF_COEFFS[11 − i]`.
pub const QMF_COEFFS: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];
