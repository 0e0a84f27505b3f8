#!/bin/sh
echo reload
