"""SQS engines on Hark's pattern: are they faithful, and are they fast enough?

Runs against any SQS endpoint on loopback (moto, LocalStack, ...):

1. Faithfulness: the FIFO behaviour Hark relies on, each checked as SQS documents it:
   group order and blocking while a message is in flight, deduplication scoped to the group,
   visibility timeout and receive counts, ChangeMessageVisibility, redrive to the DLQ after
   maxReceiveCount.
2. Throughput: N messages over G groups (customers) sent in batches of 10 with 10 % sent
   twice, then drained by C concurrent consumers (receive 10, delete in a batch), checking
   that every group comes out in order and nothing twice.

Usage: python infra/bench_sqs.py --endpoint http://127.0.0.1:4566 [--messages 2000]
       [--groups 400] [--consumers 4] [--pid PID]   (PID: the engine, for its memory)
"""

import argparse
import threading
import time
import uuid

import boto3


def client(endpoint):
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def fifo_pair(sqs, visibility, max_receive):
    name = f"bench-{uuid.uuid4().hex[:10]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={
            "FifoQueue": "true",
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":{max_receive}}}',
        },
    )["QueueUrl"]
    return queue, dlq


def receive(sqs, url, n=10, wait=0):
    out = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=n, WaitTimeSeconds=wait, MessageSystemAttributeNames=["All"]
    )
    return out.get("Messages", [])


def faithfulness(sqs):
    """Each check on a queue of its own: (name, passed, what was seen)."""
    results = []

    def check(name, passed, detail=""):
        results.append((name, bool(passed), detail))

    def send(url, body, group, dedup):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup)

    def bodies(messages):
        return sorted(m["Body"] for m in messages)

    # Order, and a group blocked while one of its messages is in flight.
    queue, _ = fifo_pair(sqs, visibility=30, max_receive=5)
    for body, group in [("a0", "A"), ("a1", "A"), ("b0", "B")]:
        send(queue, body, group, body)
    first = receive(sqs, queue, 1)
    check("the oldest message comes first", bodies(first) == ["a0"], bodies(first))
    rest = receive(sqs, queue, 10)
    check("a group is blocked while its message is in flight", bodies(rest) == ["b0"], bodies(rest))
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=first[0]["ReceiptHandle"])
    after = receive(sqs, queue, 10, wait=1)
    check("deleting it releases the group", bodies(after) == ["a1"], bodies(after))

    # Deduplication scoped to the message group.
    queue, _ = fifo_pair(sqs, visibility=30, max_receive=5)
    send(queue, "x", "A", "same")
    send(queue, "y", "B", "same")
    send(queue, "x-again", "A", "same")
    got = receive(sqs, queue, 10, wait=1) + receive(sqs, queue, 10, wait=1)
    check("the same deduplication id is kept in another group", "y" in bodies(got), bodies(got))
    check("and dropped within its own group", "x-again" not in bodies(got), bodies(got))

    # Visibility timeout, receive counts, ChangeMessageVisibility.
    queue, _ = fifo_pair(sqs, visibility=2, max_receive=5)
    send(queue, "m", "A", "m")
    one = receive(sqs, queue, 1)
    check("a received message is invisible", receive(sqs, queue, 1) == [], "")
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=one[0]["ReceiptHandle"], VisibilityTimeout=0)
    two = receive(sqs, queue, 1, wait=1)
    check("ChangeMessageVisibility(0) makes it visible again", bodies(two) == ["m"], bodies(two))
    count = two[0]["Attributes"].get("ApproximateReceiveCount") if two else None
    check("ApproximateReceiveCount counts receives", count == "2", count)
    time.sleep(2.5)
    three = receive(sqs, queue, 1, wait=1)
    check("the visibility timeout returns it", bodies(three) == ["m"], bodies(three))

    # Redrive to the dead-letter queue after maxReceiveCount receives.
    queue, dlq = fifo_pair(sqs, visibility=1, max_receive=2)
    send(queue, "poison", "A", "p")
    send(queue, "next", "A", "n")
    for _ in range(2):
        receive(sqs, queue, 1, wait=1)
        time.sleep(1.3)
    moved_on = receive(sqs, queue, 1, wait=2)
    check("after maxReceiveCount the group moves on", bodies(moved_on) == ["next"], bodies(moved_on))
    dead = receive(sqs, dlq, 10, wait=2)
    check("the message is in the dead-letter queue", bodies(dead) == ["poison"], bodies(dead))
    return results


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def throughput(endpoint, messages, groups, consumers):
    sqs = client(endpoint)
    queue, _ = fifo_pair(sqs, visibility=30, max_receive=5)
    started = time.monotonic()
    batch, sent = [], 0
    for i in range(messages):
        group = f"g{i % groups}"
        entry = {"Id": str(len(batch)), "MessageBody": f"{group}:{i // groups}", "MessageGroupId": group,
                 "MessageDeduplicationId": f"m{i}"}
        batch.append(entry)
        if i % 10 == 0:
            # A redelivery from the platform: the same id again.
            batch.append({**entry, "Id": str(len(batch))})
        if len(batch) >= 10:
            sqs.send_message_batch(QueueUrl=queue, Entries=batch[:10])
            sent += len(batch[:10])
            batch = [dict(e, Id=str(k)) for k, e in enumerate(batch[10:])]
    if batch:
        sqs.send_message_batch(QueueUrl=queue, Entries=batch)
        sent += len(batch)
    send_seconds = time.monotonic() - started

    seen, order_errors, duplicates = {}, 0, 0
    lock = threading.Lock()
    done = threading.Event()

    def consume():
        local = client(endpoint)
        idle = 0
        while not done.is_set():
            got = receive(local, queue, 10, wait=1)
            if not got:
                idle += 1
                if idle > 3:
                    return
                continue
            idle = 0
            nonlocal order_errors, duplicates
            with lock:
                for m in got:
                    group, seq = m["Body"].split(":")
                    seq = int(seq)
                    last = seen.get(group, -1)
                    if seq <= last:
                        duplicates += 1
                    elif seq != last + 1:
                        order_errors += 1
                    seen[group] = max(last, seq)
                if sum(v + 1 for v in seen.values()) >= messages:
                    done.set()
            local.delete_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(got)],
            )

    started = time.monotonic()
    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    drain_seconds = time.monotonic() - started
    received = sum(v + 1 for v in seen.values())
    return {
        "sent": sent,
        "send_per_s": sent / send_seconds,
        "received": received,
        "drain_per_s": received / drain_seconds,
        "order_errors": order_errors,
        "duplicates": duplicates,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=400)
    parser.add_argument("--consumers", type=int, default=4)
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    if not args.endpoint.startswith(("http://127.0.0.1", "http://localhost")):
        raise SystemExit("only loopback endpoints")

    print(f"engine at {args.endpoint}")
    failed = 0
    for name, passed, detail in faithfulness(client(args.endpoint)):
        failed += not passed
        print(f"  {'ok  ' if passed else 'FAIL'} {name}" + ("" if passed else f"  ({detail})"))
    result = throughput(args.endpoint, args.messages, args.groups, args.consumers)
    print(
        f"  throughput: {result['sent']} sends at {result['send_per_s']:.0f}/s; "
        f"{result['received']} of {args.messages} drained at {result['drain_per_s']:.0f}/s "
        f"by {args.consumers} consumers; order errors {result['order_errors']}, duplicates {result['duplicates']}"
    )
    if args.pid:
        print(f"  engine memory after the run: {rss_mb(args.pid):.0f} MB")
    raise SystemExit(1 if failed or result["order_errors"] or result["duplicates"] else 0)


if __name__ == "__main__":
    main()
