//! Randomness for identifiers the API hands out (session tokens, error references).

/// `bytes` bytes of OS randomness as hex digits.
pub fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(hex::encode(buf))
}
