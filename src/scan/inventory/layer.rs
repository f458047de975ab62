//! A layer blob as a tar stream: gzip (any number of members), zstd (any number of frames,
//! skippable frames skipped; RFC 8878 section 3.1) or uncompressed, as its media type says
//! (the one a runtime trusts), with the blob's first bytes required to agree. Every byte of the
//! blob is decoded (or skipped as a skippable frame), so nothing after the first member or
//! frame goes unread.

use std::io::{self, BufRead, BufReader, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A skippable frame's magic is 0x184D2A50..=0x184D2A5F, little-endian.
fn is_skippable(head: &[u8]) -> bool {
    head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18]
}

impl Compression {
    /// The compression a tar layer media type names (`+gzip`, `.tar.gzip`, `+zstd`,
    /// `.tar.zstd`; otherwise none).
    pub fn of(media_type: &str) -> Self {
        if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
            Self::Gzip
        } else if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// The tar stream of a layer of `media_type`.
pub fn decompress<'a>(blob: impl Read + 'a, media_type: &str) -> io::Result<Box<dyn Read + 'a>> {
    let mut reader = BufReader::with_capacity(256 << 10, blob);
    let head = reader.fill_buf()?;
    let disagrees = |what: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the media type says {what}, but the blob does not start like {what}"),
        ))
    };
    Ok(match Compression::of(media_type) {
        Compression::Gzip if !head.starts_with(&[0x1f, 0x8b]) => return disagrees("gzip"),
        Compression::Zstd if !(head.starts_with(&ZSTD_MAGIC) || is_skippable(head)) => return disagrees("zstd"),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(ZstdFrames::new(reader)),
        Compression::None => Box::new(reader),
    })
}

/// Every frame of a zstd stream, one after another, with skippable frames skipped and each
/// frame's content checksum (when it has one) checked.
pub struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
    frames: usize,
}

impl<R: BufRead> ZstdFrames<R> {
    pub fn new(source: R) -> Self {
        Self {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
            frames: 0,
        }
    }

    fn start_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                if self.frames == 0 {
                    return Err(bad("no frame with content (only skippable frames, or nothing)".into()));
                }
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                    let skipped = io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped != u64::from(length) {
                        return Err(bad(format!("skippable frame of {length} bytes ends after {skipped}")));
                    }
                }
                Err(e) => return Err(bad(format!("frame {}: {e}", self.frames + 1))),
            }
        }
    }
}

fn bad(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {reason}"))
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.start_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                let wanted = buf.len() - self.decoder.can_collect();
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                    .map_err(|e| bad(format!("frame {}: {e}", self.frames + 1)))?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.decoder.is_finished() {
                if let (Some(stored), Some(computed)) = (self.decoder.get_checksum_from_data(), self.decoder.get_calculated_checksum())
                    && stored != computed
                {
                    return Err(bad(format!("frame {}: content checksum mismatch", self.frames + 1)));
                }
                self.frames += 1;
                self.in_frame = false;
            }
        }
    }
}
