//! Test support shared by the unit tests, the integration tests and the fuzz
//! targets: a small deterministic PRNG for mutation tests, and an image around
//! any layer bytes.
//!
//! In: a seed; or the bytes of a layer tar. Out: a reproducible stream of
//! numbers; or an image tarball whose one (uncompressed) layer is those bytes.
//! Why in the library (hidden from the docs): the ELF unit tests and the archive
//! robustness tests must mutate inputs the same way, from one generator, and a
//! failing seed must replay; the layer fuzz target and its stable twin must reach
//! the layer readers (PAX headers, long names) past the outer checks.

/// xorshift64: fast, deterministic, good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// An image tarball (`localhost/fuzz:1`, amd64) whose one layer is `layer`, stored
/// uncompressed with its right digest and diff_id, so readers get to its entries.
pub fn image_with_layer(layer: &[u8]) -> Vec<u8> {
    use crate::image::{build_image, Blob, ImageSpec, Layer, Platform};
    let blob = Blob::new(oci_spec::image::MediaType::ImageLayer, layer.to_vec());
    let layer = Layer {
        diff_id: blob.digest.clone(),
        uncompressed_size: layer.len() as u64,
        blob,
    };
    let platform = Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let spec = ImageSpec {
        reference: crate::reference::Reference::parse("localhost/fuzz:1")
            .expect("a fixed reference"),
        ..ImageSpec::default()
    };
    build_image(&spec, &platform, vec![layer], 0)
        .and_then(|image| crate::image::tarball::write_to(&image, Vec::new(), 0))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays() {
        let mut a = XorShift(42);
        let mut b = XorShift(42);
        let xs: Vec<u64> = (0..5).map(|_| a.next()).collect();
        assert_eq!(xs, (0..5).map(|_| b.next()).collect::<Vec<_>>());
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(a.below(0), 0);
        assert!((0..100).all(|_| a.below(7) < 7));
    }
}
