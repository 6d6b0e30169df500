//! The cluster a test talks to: `REDIS_CLUSTER_URLS` when `cargo xtask
//! test` set it, or a throwaway one started for the test.

use redis_cluster::ClusterConfig;
use xtask::TestCluster;

pub struct Cluster(TestCluster);

impl Cluster {
    pub fn get() -> Cluster {
        Cluster(TestCluster::get().expect("a cluster starts"))
    }

    #[allow(dead_code)] // Not every test file needs the URLs themselves.
    pub fn urls(&self) -> Vec<String> {
        self.0.seed_urls().to_vec()
    }

    pub fn config(&self) -> ClusterConfig {
        ClusterConfig::from_urls(self.0.seed_urls()).unwrap()
    }
}
