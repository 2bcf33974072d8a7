//! SNS as the [`Publisher`]: `PublishBatch` with one result per entry.

use aws_sdk_sns::Client;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use super::sdk_error;
use crate::ports::*;

#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }
}

impl Publisher for SnsPublisher {
    async fn publish_batch(&self, messages: &[Message]) -> PortResult<Vec<PortResult<()>>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        if messages.len() > MAX_PUBLISH_BATCH {
            return Err(PortError::permanent("sns", "more than 10 entries in one PublishBatch"));
        }
        let mut entries = Vec::with_capacity(messages.len());
        for m in messages {
            let mut entry = PublishBatchRequestEntry::builder().id(&m.id).subject(&m.subject).message(&m.body);
            if m.per_protocol {
                entry = entry.message_structure("json");
            }
            for (k, v) in &m.attributes {
                let attr = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .map_err(|e| PortError::permanent("sns", e.to_string()))?;
                entry = entry.message_attributes(k, attr);
            }
            entries.push(entry.build().map_err(|e| PortError::permanent("sns", e.to_string()))?);
        }
        let out = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sdk_error("sns", &e))?;
        Ok(messages
            .iter()
            .map(|m| match out.failed().iter().find(|f| f.id() == m.id) {
                None => Ok(()),
                Some(f) if f.sender_fault() => {
                    Err(PortError::permanent("sns", format!("entry rejected: {}", f.code())))
                }
                Some(f) => Err(PortError::transient("sns", format!("entry failed: {}", f.code()))),
            })
            .collect())
    }
}
