#!/bin/sh
# Every two seconds: the label baked in when the image was built, and the count that web
# keeps in the volume.
while :; do
    echo "$(cat /stats/label.txt): $(cat /www/data/count)"
    sleep 2
done
