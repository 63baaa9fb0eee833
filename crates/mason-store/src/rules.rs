//! Backend-independent rules: planning a config sync (SPEC §2.3) and dynamic pool upkeep
//! (SPEC §4.8) as pure functions over a snapshot, which each backend then applies inside
//! one transaction with compare-and-set conditions.
